/* placeholder: being written (see the issue) */
typedef int gw_placeholder_at_frame;
