/* config.h: fixture header. */
#ifndef FIXTURE_CONFIG_H
#define FIXTURE_CONFIG_H
#endif
