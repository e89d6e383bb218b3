/* app_stats.c: the answer-time histogram of struct app_stats. */
#include "app.h"

/* Upper bounds: the platform's deadline is about 3 s
 * (docs/M531X-REFERENCE.md 2.3). */
const double app_answer_bounds_s[APP_ANSWER_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0};

void app_stats_answer(struct app_stats *st, double seconds)
{
    for (size_t i = 0; i < APP_ANSWER_BUCKETS; i++) {
        if (seconds <= app_answer_bounds_s[i]) {
            st->answer_buckets[i]++;
            break;
        }
    }
    st->answer_count++; /* above the last bound: only in count and sum */
    st->answer_sum_s += seconds;
}
