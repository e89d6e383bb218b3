/* gw/compiler.h: small compiler helpers shared by every module. */
#ifndef GW_COMPILER_H
#define GW_COMPILER_H

#define GW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define GW_UNUSED(x)    ((void)(x))

#if defined(__GNUC__) || defined(__clang__)
#define GW_PRINTF(fmt_idx, args_idx)                                           \
    __attribute__((format(printf, fmt_idx, args_idx)))
#define GW_NODISCARD __attribute__((warn_unused_result))
#else
#define GW_PRINTF(fmt_idx, args_idx)
#define GW_NODISCARD
#endif

#endif
