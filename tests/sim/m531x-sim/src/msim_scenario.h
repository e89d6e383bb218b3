/* msim_scenario.h: the scenario file (JSON) and the report (JSON).
 * The format is documented in ../README.md. */
#ifndef MSIM_SCENARIO_H
#define MSIM_SCENARIO_H

#include "msim.h"

#define MSIM_SCEN_MAX_TASKS  16
#define MSIM_SCEN_MAX_MODEMS 4096
#define MSIM_PACKAGE_MAX     (16u * 1024u * 1024u)

struct msim_scenario {
    uint64_t seed;
    unsigned n_modems;
    struct msim_platform_cfg platform;
    struct msim_task tasks[MSIM_SCEN_MAX_TASKS];
    uint8_t *packages[MSIM_SCEN_MAX_TASKS]; /* owned */
    size_t n_tasks;
    struct msim_mod_cfg *mods; /* n_modems entries, owned */
};

/* Loads path for n_modems modules under seed (seed_set: overrides the
 * file's "seed"). now_us is the clock the tasks' start times count from.
 * Returns 0, or a negative error with a message in err. */
int msim_scenario_load(struct msim_scenario *sc, const char *path,
                       unsigned n_modems, uint64_t seed, bool seed_set,
                       uint64_t now_us, char *err, size_t err_cap);

/* --adversarial: adversarial timing on for every module, with the bounds
 * the scenario gives (else the defaults). */
void msim_scenario_adversarial(struct msim_scenario *sc);
void msim_scenario_cleanup(struct msim_scenario *sc);

/* Writes the report for the modules to path. Returns 0 or -errno. */
int msim_report_write(const char *path, const struct msim_scenario *sc,
                      struct msim_mod *const *mods, const char *dir,
                      double elapsed_s);

#endif
