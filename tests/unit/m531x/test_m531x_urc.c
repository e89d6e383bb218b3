/* test_m531x_urc.c: the +MIPL* URC decoders.
 *
 * One table row per line, named after the source or firmware that prints
 * that variant (docs/M531X-REFERENCE.md section 0 for the tags). Each line is
 * handed over in a heap block of exactly its length with no NUL after it,
 * so ASan catches a read past the end. Rejections are checked for the
 * GW_E_* code and for the exact reason text.
 *
 * The seed replay at the end decodes every +MIPL line of
 * tests/data/seed/seed-transcript.txt, joins the split write lines the way
 * the framer does, and checks the chunks rebuild tests/data/seed/
 * seed-image.bin byte for byte; a second replay runs the same lines
 * through the real framer (dio/at_frame.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dio/at_frame.h"
#include "dio/m531x.h"
#include "exact_copy.h"
#include "gw/compiler.h"
#include "gw/err.h"

struct urc_case {
    const char *name;
    const char *line;
    size_t len;
    enum m531x_opaque_len opaque;
    int rc;
    struct m531x_urc want; /* compared when rc == 0 */
    const char *text;      /* write value, execute args, parameter text */
    const char *reason;    /* compared when rc < 0 */
};

#define L(s)  .line = (s), .len = sizeof(s) - 1
#define NOIDS .msgid = -1, .obj = -1, .ins = -1, .res = -1

#define OK(n, l, t, ...)                                                       \
    {                                                                          \
        .name = (n), L(l), .rc = 0, .text = (t), .want = { __VA_ARGS__ }       \
    }
#define OKD(n, mode, l, t, ...)                                                \
    {                                                                          \
        .name = (n), L(l), .opaque = (mode), .rc = 0, .text = (t), .want = {   \
            __VA_ARGS__                                                        \
        }                                                                      \
    }
#define BAD(n, l, r, why)                                                      \
    {                                                                          \
        .name = (n), L(l), .rc = (r), .reason = (why)                          \
    }
#define BADD(n, mode, l, r, why)                                               \
    {                                                                          \
        .name = (n), L(l), .opaque = (mode), .rc = (r), .reason = (why)        \
    }

#define W(...) .kind = M531X_URC_WRITE, .u.write = {__VA_ARGS__}
#define BYTES  M531X_LEN_BYTES
#define HEXCH  M531X_LEN_HEXCHARS
#define OPQ    M531X_TYPE_OPAQUE

static const struct urc_case urc_cases[] = {
    /* ---- +MIPLREAD ---------------------------------------------------- */
    OK("read_m5311_seed", "+MIPLREAD:0,54078,3,0,26261", NULL,
       .kind = M531X_URC_READ, .ref = 0, .msgid = 54078, .obj = 3, .ins = 0,
       .res = 26261, .u.read.count = -1),
    OK("read_m5311_seed_all_no_count", "+MIPLREAD:0,54080,5,0,-1", NULL,
       .kind = M531X_URC_READ, .msgid = 54080, .obj = 5, .res = -1,
       .u.read.count = -1),
    OK("read_spec24_all_with_count", "+MIPLREAD:0,54080,5,0,-1,3", NULL,
       .kind = M531X_URC_READ, .msgid = 54080, .obj = 5, .res = -1,
       .u.read.count = 3),
    OK("read_me3616_spaced", "+MIPLREAD: 0, 54081, 3, 0, 9", NULL,
       .kind = M531X_URC_READ, .msgid = 54081, .obj = 3, .res = 9,
       .u.read.count = -1),
    OK("read_m5310doc_space_after_colon", "+MIPLREAD: 0,2147483647,3303,1,5700",
       NULL, .kind = M531X_URC_READ, .msgid = 2147483647, .obj = 3303, .ins = 1,
       .res = 5700, .u.read.count = -1),
    BAD("read_count_without_res_all", "+MIPLREAD:0,54078,3,0,9,1", GW_E_INVAL,
        "count is only sent with res -1"),
    BAD("read_truncated_res", "+MIPLREAD:0,54078,3,0", GW_E_TRUNC,
        "res missing"),
    BAD("read_truncated_after_comma", "+MIPLREAD:0,54078,3,0,", GW_E_TRUNC,
        "res missing"),
    BAD("read_only_name", "+MIPLREAD:", GW_E_TRUNC, "ref missing"),
    BAD("read_res_minus_two", "+MIPLREAD:0,54078,3,0,-2", GW_E_RANGE,
        "res out of range -1..65535"),
    BAD("read_ins_negative", "+MIPLREAD:0,54078,3,-1,9", GW_E_RANGE,
        "ins out of range 0..65535"),
    BAD("read_obj_over", "+MIPLREAD:0,54078,65536,0,9", GW_E_RANGE,
        "obj out of range 0..65535"),
    BAD("read_count_over", "+MIPLREAD:0,1,5,0,-1,65536", GW_E_RANGE,
        "count out of range 0..65535"),
    BAD("read_two_spaces", "+MIPLREAD:0,  54078,3,0,9", GW_E_INVAL,
        "msgid is not a decimal number"),
    BAD("read_two_spaces_after_colon", "+MIPLREAD:  0,54078,3,0,9", GW_E_INVAL,
        "ref is not a decimal number"),
    BAD("read_space_before_comma", "+MIPLREAD:0 ,54078,3,0,9", GW_E_INVAL,
        "ref is not a decimal number"),
    BAD("read_trailing_space", "+MIPLREAD:0,54078,3,0,9 ", GW_E_INVAL,
        "res is not a decimal number"),
    BAD("read_tab", "+MIPLREAD:0,54078,3,0,\t9", GW_E_INVAL,
        "control or non-ASCII byte in line"),

    /* ---- numbers ------------------------------------------------------ */
    BAD("number_msgid_empty", "+MIPLREAD:0,,3,0,9", GW_E_INVAL, "msgid empty"),
    BAD("number_msgid_plus", "+MIPLREAD:0,+54078,3,0,9", GW_E_INVAL,
        "msgid is not a decimal number"),
    BAD("number_msgid_negative", "+MIPLREAD:0,-5,3,0,9", GW_E_RANGE,
        "msgid out of range 0..2147483647"),
    BAD("number_msgid_minus_zero", "+MIPLREAD:0,-0,3,0,9", GW_E_RANGE,
        "msgid out of range 0..2147483647"),
    BAD("number_msgid_minus_only", "+MIPLREAD:0,-,3,0,9", GW_E_INVAL,
        "msgid is not a decimal number"),
    BAD("number_msgid_overflow", "+MIPLREAD:0,99999999999,3,0,9", GW_E_RANGE,
        "msgid out of range 0..2147483647"),
    BAD("number_msgid_2pow31", "+MIPLREAD:0,2147483648,3,0,9", GW_E_RANGE,
        "msgid out of range 0..2147483647"),
    BAD("number_msgid_huge", "+MIPLREAD:0,99999999999999999999999999999,3,0,9",
        GW_E_RANGE, "msgid out of range 0..2147483647"),
    BAD("number_msgid_hex", "+MIPLREAD:0,0x10,3,0,9", GW_E_INVAL,
        "msgid is not a decimal number"),
    BAD("number_ref_256", "+MIPLREAD:256,1,3,0,9", GW_E_RANGE,
        "ref out of range 0..255"),
    BAD("number_nul_inside",
        "+MIPLREAD:0,54\0"
        "78,3,0,9",
        GW_E_INVAL, "control or non-ASCII byte in line"),
    BAD("number_high_byte", "+MIPLREAD:0,54078,3,0,9\xff", GW_E_INVAL,
        "control or non-ASCII byte in line"),

    /* ---- +MIPLWRITE --------------------------------------------------- */
    /* The seed's split layout as the framer joins it: the line ending in
     * ',' followed by the value line. */
    OK("write_m5311_seed_split", "+MIPLWRITE:0,27496,5,0,0,2,4,C7AC46F8,1",
       "C7AC46F8", .ref = 0, .msgid = 27496, .obj = 5, .ins = 0, .res = 0,
       W(.type = OPQ, .len = 4, .flag = 1, .index = -1, .len_unit = BYTES,
         .data_len = 4)),
    OK("write_m5311_seed_last", "+MIPLWRITE:0,27509,5,0,0,2,2,CF0A,0", "CF0A",
       .msgid = 27509, .obj = 5,
       W(.type = OPQ, .len = 2, .flag = 0, .index = -1, .len_unit = BYTES,
         .data_len = 2)),
    OK("write_m5311_seed_final_empty", "+MIPLWRITE:0,17507,5,0,0,2,0,,0", "",
       .msgid = 17507, .obj = 5,
       W(.type = OPQ, .len = 0, .flag = 0, .index = -1,
         .len_unit = M531X_LEN_NONE, .data_len = 0)),
    OK("write_m5310doc_two_trailing",
       "+MIPLWRITE:0,12345,3306,0,5850,2,1,01,0,1", "01", .msgid = 12345,
       .obj = 3306, .res = 5850,
       W(.type = OPQ, .len = 1, .flag = 0, .index = 1, .len_unit = BYTES,
         .data_len = 1)),
    OK("write_me3616_two_trailing_spaced",
       "+MIPLWRITE: 0, 17289, 3300, 0, 5750, 2, 1, 08, 0, 0", "08",
       .msgid = 17289, .obj = 3300, .res = 5750,
       W(.type = OPQ, .len = 1, .flag = 0, .index = 0, .len_unit = BYTES,
         .data_len = 1)),
    OK("write_me3616_hiya_spaced",
       "+MIPLWRITE: 0, 5, 3300, 0, 5750, 2, 4, 48695961, 0, 0", "48695961",
       .msgid = 5, .obj = 3300, .res = 5750,
       W(.type = OPQ, .len = 4, .flag = 0, .index = 0, .len_unit = BYTES,
         .data_len = 4)),
    OK("write_wh_hexchars", "+MIPLWRITE:0,3,3200,0,5750,2,2,01,0", "01",
       .msgid = 3, .obj = 3200, .res = 5750,
       W(.type = OPQ, .len = 2, .flag = 0, .index = -1, .len_unit = HEXCH,
         .data_len = 1)),
    OK("write_seed_final_empty_me3616_spaced",
       "+MIPLWRITE: 0, 17507, 5, 0, 0, 2, 0, , 0", "", .msgid = 17507, .obj = 5,
       W(.type = OPQ, .len = 0, .flag = 0, .index = -1,
         .len_unit = M531X_LEN_NONE)),
    OKD("write_aio_hexchars_dialect_hex", M531X_OPAQUE_HEX,
        "+MIPLWRITE:0,27496,5,0,0,2,8,C7AC46F8,1", "C7AC46F8", .msgid = 27496,
        .obj = 5,
        W(.type = OPQ, .len = 8, .flag = 1, .index = -1, .len_unit = HEXCH,
          .data_len = 4)),
    OKD("write_me3616_bytes_dialect_bytes", M531X_OPAQUE_BYTES,
        "+MIPLWRITE: 0, 5, 3300, 0, 5750, 2, 4, 48695961, 0, 0", "48695961",
        .msgid = 5, .obj = 3300, .res = 5750,
        W(.type = OPQ, .len = 4, .flag = 0, .index = 0, .len_unit = BYTES,
          .data_len = 4)),
    OKD("write_seed_final_empty_dialect_hex", M531X_OPAQUE_HEX,
        "+MIPLWRITE:0,17507,5,0,0,2,0,,0", "", .msgid = 17507, .obj = 5,
        W(.type = OPQ, .index = -1, .len_unit = M531X_LEN_NONE)),
    OK("write_lowercase_hex", "+MIPLWRITE:0,9,5,0,0,2,2,c7ac,2", "c7ac",
       .msgid = 9, .obj = 5,
       W(.type = OPQ, .len = 2, .flag = 2, .index = -1, .len_unit = BYTES,
         .data_len = 2)),
    OK("write_string_quoted_comma", "+MIPLWRITE:0,7,3,0,19,1,3,\"a,b\",0",
       "a,b", .msgid = 7, .obj = 3, .res = 19,
       W(.type = M531X_TYPE_STRING, .len = 3, .flag = 0, .index = -1)),
    OK("write_xy_string_unquoted_two_trailing",
       "+MIPLWRITE:0,7,3,0,19,1,5,hello,0,0", "hello", .msgid = 7, .obj = 3,
       .res = 19, W(.type = M531X_TYPE_STRING, .len = 5, .index = 0)),
    OK("write_string_empty_quoted", "+MIPLWRITE:0,7,3,0,19,1,0,\"\",0", "",
       .msgid = 7, .obj = 3, .res = 19,
       W(.type = M531X_TYPE_STRING, .index = -1)),
    OK("write_integer_negative", "+MIPLWRITE:0,8,3303,0,5700,3,3,-12,0", "-12",
       .msgid = 8, .obj = 3303, .res = 5700,
       W(.type = M531X_TYPE_INTEGER, .len = 3, .index = -1)),
    OK("write_float", "+MIPLWRITE:0,8,3303,0,5700,4,5,-0.08,0", "-0.08",
       .msgid = 8, .obj = 3303, .res = 5700,
       W(.type = M531X_TYPE_FLOAT, .len = 5, .index = -1)),
    OK("write_bool", "+MIPLWRITE:0,8,3311,0,5850,5,1,1,0,0", "1", .msgid = 8,
       .obj = 3311, .res = 5850,
       W(.type = M531X_TYPE_BOOL, .len = 1, .index = 0)),
    BAD("write_nonhex", "+MIPLWRITE:0,27496,5,0,0,2,4,C7AC46G8,1", GW_E_INVAL,
        "non-hex character in opaque value"),
    BAD("write_nonhex_space", "+MIPLWRITE:0,27496,5,0,0,2,4,C7AC 6F8,1",
        GW_E_INVAL, "non-hex character in opaque value"),
    BAD("write_odd_hex", "+MIPLWRITE:0,27496,5,0,0,2,4,C7AC46F,1", GW_E_INVAL,
        "odd number of hex characters in opaque value"),
    BAD("write_odd_hex_matching_len", "+MIPLWRITE:0,27496,5,0,0,2,7,C7AC46F,1",
        GW_E_INVAL, "odd number of hex characters in opaque value"),
    BAD("write_fits_neither", "+MIPLWRITE:0,27496,5,0,0,2,3,C7AC46F8,1",
        GW_E_INVAL,
        "opaque value fits len neither as bytes nor as hex characters"),
    BAD("write_seed_len_1024_short_payload",
        "+MIPLWRITE:0,27496,5,0,0,2,1024,C7AC46F8,1", GW_E_INVAL,
        "opaque value fits len neither as bytes nor as hex characters"),
    BAD("write_len_zero_with_value", "+MIPLWRITE:0,27496,5,0,0,2,0,C7,0",
        GW_E_INVAL,
        "opaque value fits len neither as bytes nor as hex characters"),
    BAD("write_len_without_value", "+MIPLWRITE:0,27496,5,0,0,2,4,,0",
        GW_E_INVAL, "opaque value empty but len is not 0"),
    BADD("write_bytes_dialect_rejects_hexchars", M531X_OPAQUE_BYTES,
         "+MIPLWRITE:0,27496,5,0,0,2,8,C7AC46F8,1", GW_E_INVAL,
         "opaque value does not fit len as a byte count (dialect: bytes)"),
    BADD("write_hex_dialect_rejects_bytes", M531X_OPAQUE_HEX,
         "+MIPLWRITE:0,27496,5,0,0,2,4,C7AC46F8,1", GW_E_INVAL,
         "opaque value does not fit len as a hex character count "
         "(dialect: hex)"),
    BAD("write_seed_held_line_alone", "+MIPLWRITE:0,27496,5,0,0,2,1024,",
        GW_E_TRUNC, "flag missing"),
    BAD("write_flag_missing", "+MIPLWRITE:0,27496,5,0,0,2,1,C7", GW_E_TRUNC,
        "flag missing"),
    BAD("write_value_missing", "+MIPLWRITE:0,27496,5,0,0,2,1", GW_E_TRUNC,
        "value missing"),
    BAD("write_three_trailing", "+MIPLWRITE:0,27496,5,0,0,2,1,C7,1,0,5",
        GW_E_INVAL, "trailing characters"),
    BAD("write_flag_3", "+MIPLWRITE:0,27496,5,0,0,2,1,C7,3", GW_E_RANGE,
        "flag out of range 0..2"),
    BAD("write_flag_trailing_space", "+MIPLWRITE:0,27496,5,0,0,2,1,C7,1 ",
        GW_E_INVAL, "flag is not a decimal number"),
    BAD("write_index_empty", "+MIPLWRITE:0,27496,5,0,0,2,1,C7,1,", GW_E_TRUNC,
        "index missing"),
    BAD("write_index_negative", "+MIPLWRITE:0,1,3306,0,5850,2,1,01,0,-1",
        GW_E_RANGE, "index out of range 0..65535"),
    BAD("write_type_6", "+MIPLWRITE:0,27496,5,0,0,6,1,C7,1", GW_E_RANGE,
        "type out of range 1..5"),
    BAD("write_type_0", "+MIPLWRITE:0,27496,5,0,0,0,1,C7,1", GW_E_RANGE,
        "type out of range 1..5"),
    BAD("write_len_over", "+MIPLWRITE:0,27496,5,0,0,2,65536,C7,1", GW_E_RANGE,
        "len out of range 0..65535"),
    BAD("write_len_negative", "+MIPLWRITE:0,27496,5,0,0,2,-1,C7,1", GW_E_RANGE,
        "len out of range 0..65535"),
    BAD("write_nul_in_payload", "+MIPLWRITE:0,27496,5,0,0,2,2,C7\0A,1",
        GW_E_INVAL, "control or non-ASCII byte in line"),
    BAD("write_cr_in_payload", "+MIPLWRITE:0,27496,5,0,0,2,2,C7\r\nAC,1",
        GW_E_INVAL, "control or non-ASCII byte in line"),
    BAD("write_string_unterminated", "+MIPLWRITE:0,7,3,0,19,1,3,\"abc,0",
        GW_E_INVAL, "unterminated string value"),
    BAD("write_integer_junk", "+MIPLWRITE:0,8,3303,0,5700,3,2,1a,0", GW_E_INVAL,
        "integer value is not a decimal number"),
    BAD("write_integer_empty", "+MIPLWRITE:0,8,3303,0,5700,3,0,,0", GW_E_INVAL,
        "integer value is not a decimal number"),
    BAD("write_float_junk", "+MIPLWRITE:0,8,3303,0,5700,4,3,1;2,0", GW_E_INVAL,
        "float value is not a number"),
    BAD("write_bool_2", "+MIPLWRITE:0,8,3311,0,5850,5,1,2,0", GW_E_INVAL,
        "bool value is not 0 or 1"),

    /* ---- +MIPLEXECUTE ------------------------------------------------- */
    OK("execute_m5311_seed_empty_args", "+MIPLEXECUTE:0,54077,5,0,26550,0,\"\"",
       "", .kind = M531X_URC_EXECUTE, .msgid = 54077, .obj = 5, .res = 26550,
       .u.execute.len = 0),
    OK("execute_m5311_seed_update", "+MIPLEXECUTE:0,27511,5,0,2,0,\"\"", "",
       .kind = M531X_URC_EXECUTE, .msgid = 27511, .obj = 5, .res = 2,
       .u.execute.len = 0),
    OK("execute_xy_no_args", "+MIPLEXECUTE:0,27495,5,0,26501", "",
       .kind = M531X_URC_EXECUTE, .msgid = 27495, .obj = 5, .res = 26501,
       .u.execute.len = -1),
    OK("execute_m5310doc_spaced_quoted",
       "+MIPLEXECUTE:0,3,3311,0,5605,5, \"reset\"", "reset",
       .kind = M531X_URC_EXECUTE, .msgid = 3, .obj = 3311, .res = 5605,
       .u.execute.len = 5),
    OK("execute_unquoted_args", "+MIPLEXECUTE:0,3,3311,0,5605,5,reset", "reset",
       .kind = M531X_URC_EXECUTE, .msgid = 3, .obj = 3311, .res = 5605,
       .u.execute.len = 5),
    OK("execute_me3616_spaced", "+MIPLEXECUTE: 0, 54077, 5, 0, 26550, 0, \"\"",
       "", .kind = M531X_URC_EXECUTE, .msgid = 54077, .obj = 5, .res = 26550,
       .u.execute.len = 0),
    OK("execute_args_with_comma", "+MIPLEXECUTE:0,3,3311,0,5605,3,\"a,b\"",
       "a,b", .kind = M531X_URC_EXECUTE, .msgid = 3, .obj = 3311, .res = 5605,
       .u.execute.len = 3),
    /* The seed's step 16 line ends in five blanks after the "". */
    OK("execute_seed_trailing_blanks",
       "+MIPLEXECUTE:0,54077,5,0,26550,0,\"\"     ", "",
       .kind = M531X_URC_EXECUTE, .msgid = 54077, .obj = 5, .res = 26550,
       .u.execute.len = 0),
    OK("execute_quoted_args_trailing_blank",
       "+MIPLEXECUTE:0,3,3311,0,5605,5,\"reset\" ", "reset",
       .kind = M531X_URC_EXECUTE, .msgid = 3, .obj = 3311, .res = 5605,
       .u.execute.len = 5),
    BAD("execute_lone_quote_then_blanks",
        "+MIPLEXECUTE:0,54077,5,0,26550,0,\"   ", GW_E_INVAL,
        "unterminated quoted text"),
    BAD("execute_text_after_quote_then_blank",
        "+MIPLEXECUTE:0,54077,5,0,26550,0,\"\"x ", GW_E_INVAL,
        "unterminated quoted text"),
    BAD("execute_len_without_args", "+MIPLEXECUTE:0,54077,5,0,26550,0",
        GW_E_TRUNC, "args missing"),
    BAD("execute_args_after_comma", "+MIPLEXECUTE:0,54077,5,0,26550,0,",
        GW_E_TRUNC, "args missing"),
    BAD("execute_unterminated", "+MIPLEXECUTE:0,54077,5,0,26550,3,\"abc",
        GW_E_INVAL, "unterminated quoted text"),
    BAD("execute_lone_quote", "+MIPLEXECUTE:0,54077,5,0,26550,0,\"", GW_E_INVAL,
        "unterminated quoted text"),
    BAD("execute_inner_quote", "+MIPLEXECUTE:0,54077,5,0,26550,3,a\"b",
        GW_E_INVAL, "quote inside text"),
    BAD("execute_truncated_head", "+MIPLEXECUTE:0,54077,5,0", GW_E_TRUNC,
        "res missing"),
    BAD("execute_len_junk", "+MIPLEXECUTE:0,54077,5,0,26550,x,\"\"", GW_E_INVAL,
        "len is not a decimal number"),

    /* ---- +MIPLOBSERVE / +MIPLDISCOVER / +MIPLPARAMETER ---------------- */
    OK("observe_m5310doc", "+MIPLOBSERVE:0,69234,1,3303,0,5700", NULL,
       .kind = M531X_URC_OBSERVE, .msgid = 69234, .obj = 3303, .res = 5700,
       .u.observe.oper = 1),
    OK("observe_me3616_spaced_cancel", "+MIPLOBSERVE: 0, 69235, 0, 3303, 0, -1",
       NULL, .kind = M531X_URC_OBSERVE, .msgid = 69235, .obj = 3303, .res = -1,
       .u.observe.oper = 0),
    OK("observe_object_level", "+MIPLOBSERVE:0,5,1,3303,-1,-1", NULL,
       .kind = M531X_URC_OBSERVE, .msgid = 5, .obj = 3303, .ins = -1, .res = -1,
       .u.observe.oper = 1),
    BAD("observe_oper_2", "+MIPLOBSERVE:0,5,2,3303,0,5700", GW_E_RANGE,
        "oper out of range 0..1"),
    BAD("observe_truncated", "+MIPLOBSERVE:0,5,1,3303,0", GW_E_TRUNC,
        "res missing"),
    OK("discover_m5310doc", "+MIPLDISCOVER:0,26384,3303", NULL,
       .kind = M531X_URC_DISCOVER, .msgid = 26384, .obj = 3303, .ins = -1,
       .res = -1),
    OK("discover_me3616_spaced", "+MIPLDISCOVER: 0, 26384, 3303", NULL,
       .kind = M531X_URC_DISCOVER, .msgid = 26384, .obj = 3303, .ins = -1,
       .res = -1),
    BAD("discover_trailing_junk", "+MIPLDISCOVER:0,26384,3303x", GW_E_INVAL,
        "obj is not a decimal number"),
    BAD("discover_extra_field", "+MIPLDISCOVER:0,26384,3303,1", GW_E_INVAL,
        "trailing characters"),
    OK("parameter_spec24",
       "+MIPLPARAMETER:0,1234,3303,0,5700,19,\"pmin=1;pmax=10;gt=5\"",
       "pmin=1;pmax=10;gt=5", .kind = M531X_URC_PARAMETER, .msgid = 1234,
       .obj = 3303, .res = 5700, .u.parameter.len = 19),
    OK("parameter_m5310doc_st_unquoted",
       "+MIPLPARAMETER:0,1234,3303,0,5700,11,pmin=1;st=2", "pmin=1;st=2",
       .kind = M531X_URC_PARAMETER, .msgid = 1234, .obj = 3303, .res = 5700,
       .u.parameter.len = 11),
    BAD("parameter_missing", "+MIPLPARAMETER:0,1234,3303,0,5700,19", GW_E_TRUNC,
        "parameters missing"),

    /* ---- +MIPLEVENT --------------------------------------------------- */
    OK("event_m5311_seed_registered", "+MIPLEVENT:0,6", NULL,
       .kind = M531X_URC_EVENT, NOIDS, .u.event.evt = 6),
    OK("event_m5311_seed_updated", "+MIPLEVENT:0,11", NULL,
       .kind = M531X_URC_EVENT, NOIDS, .u.event.evt = 11),
    OK("event_me3616_spaced", "+MIPLEVENT: 0, 6", NULL, .kind = M531X_URC_EVENT,
       NOIDS, .u.event.evt = 6),
    OK("event_m5310doc_space_after_colon", "+MIPLEVENT: 0,6", NULL,
       .kind = M531X_URC_EVENT, NOIDS, .u.event.evt = 6),
    OK("event_me3616_notify_failed_param", "+MIPLEVENT: 0, 25, 922675", NULL,
       .kind = M531X_URC_EVENT, NOIDS, .u.event.evt = 25,
       .u.event.has_param = 1, .u.event.param = 922675),
    OK("event_spec24_ackid", "+MIPLEVENT:0,26,4294967295", NULL,
       .kind = M531X_URC_EVENT, NOIDS, .u.event.evt = 26,
       .u.event.has_param = 1, .u.event.param = 4294967295),
    BAD("event_param_overflow", "+MIPLEVENT:0,26,4294967296", GW_E_RANGE,
        "event param out of range 0..4294967295"),
    BAD("event_param_empty", "+MIPLEVENT:0,26,", GW_E_TRUNC,
        "event param missing"),
    BAD("event_truncated", "+MIPLEVENT:0", GW_E_TRUNC, "evt missing"),
    BAD("event_truncated_comma", "+MIPLEVENT:0,", GW_E_TRUNC, "evt missing"),
    BAD("event_empty_after_colon", "+MIPLEVENT:", GW_E_TRUNC, "ref missing"),
    BAD("event_space_only", "+MIPLEVENT: ", GW_E_TRUNC, "ref missing"),
    BAD("event_evt_negative", "+MIPLEVENT:0,-6", GW_E_RANGE,
        "evt out of range 0..255"),
    BAD("event_four_fields", "+MIPLEVENT:0,26,1,2", GW_E_INVAL,
        "trailing characters"),

    /* ---- +MIPLCREATE(EX) / +MIPLNSMI ---------------------------------- */
    OK("create_m5310doc", "+MIPLCREATE:0", NULL, .kind = M531X_URC_CREATE,
       NOIDS),
    OK("create_me3616_spaced", "+MIPLCREATE: 1", NULL, .kind = M531X_URC_CREATE,
       .ref = 1, NOIDS),
    OK("createex_aio", "+MIPLCREATEEX:0", NULL, .kind = M531X_URC_CREATE,
       NOIDS),
    BAD("create_trailing_space", "+MIPLCREATE:0 ", GW_E_INVAL,
        "ref is not a decimal number"),
    BAD("create_empty", "+MIPLCREATE:", GW_E_TRUNC, "ref missing"),
    OK("nsmi_oneos", "+MIPLNSMI:0,1,3", NULL, .kind = M531X_URC_NSMI, NOIDS,
       .u.nsmi.status = 1, .u.nsmi.num = 3),
    BAD("nsmi_truncated", "+MIPLNSMI:0,1", GW_E_TRUNC, "num missing"),

    /* ---- not ours ----------------------------------------------------- */
    BAD("unknown_miplver", "+MIPLVER:2.1", GW_E_UNKNOWN,
        "not a +MIPL URC that is decoded"),
    BAD("unknown_cereg", "+CEREG: 1", GW_E_UNKNOWN,
        "not a +MIPL URC that is decoded"),
    BAD("unknown_longer_name", "+MIPLREADX:0,1,3,0,9", GW_E_UNKNOWN,
        "not a +MIPL URC that is decoded"),
    BAD("unknown_prefix_of_name", "+MIPLREA:0,1,3,0,9", GW_E_UNKNOWN,
        "not a +MIPL URC that is decoded"),
    BAD("unknown_lowercase", "+miplread:0,1,3,0,9", GW_E_UNKNOWN,
        "not a +MIPL URC that is decoded"),
    BAD("unknown_no_colon", "+MIPLREAD 0,1,3,0,9", GW_E_UNKNOWN,
        "not a +MIPL URC that is decoded"),
    BAD("unknown_empty", "", GW_E_UNKNOWN, "not a +MIPL URC that is decoded"),
    BAD("garbage_nul_first", "\0+MIPLEVENT:0,6", GW_E_INVAL,
        "control or non-ASCII byte in line"),
};

static void check_text(const char *want, const char *got, size_t got_len)
{
    if (want == NULL)
        return;
    assert_int_equal(got_len, strlen(want));
    if (got_len > 0)
        assert_memory_equal(got, want, got_len);
}

static void check_urc(const struct urc_case *c, const struct m531x_urc *u)
{
    const struct m531x_urc *w = &c->want;

    assert_int_equal(u->kind, w->kind);
    assert_int_equal(u->ref, w->ref);
    assert_int_equal(u->msgid, w->msgid);
    assert_int_equal(u->obj, w->obj);
    assert_int_equal(u->ins, w->ins);
    assert_int_equal(u->res, w->res);
    assert_null(u->reason);
    switch (w->kind) {
    case M531X_URC_READ:
        assert_int_equal(u->u.read.count, w->u.read.count);
        break;
    case M531X_URC_WRITE:
        assert_int_equal(u->u.write.type, w->u.write.type);
        assert_int_equal(u->u.write.len, w->u.write.len);
        assert_int_equal(u->u.write.flag, w->u.write.flag);
        assert_int_equal(u->u.write.index, w->u.write.index);
        assert_int_equal(u->u.write.len_unit, w->u.write.len_unit);
        assert_int_equal(u->u.write.data_len, w->u.write.data_len);
        check_text(c->text, u->u.write.value, u->u.write.value_len);
        break;
    case M531X_URC_EXECUTE:
        assert_int_equal(u->u.execute.len, w->u.execute.len);
        check_text(c->text, u->u.execute.args, u->u.execute.args_len);
        break;
    case M531X_URC_OBSERVE:
        assert_int_equal(u->u.observe.oper, w->u.observe.oper);
        break;
    case M531X_URC_PARAMETER:
        assert_int_equal(u->u.parameter.len, w->u.parameter.len);
        check_text(c->text, u->u.parameter.params, u->u.parameter.params_len);
        break;
    case M531X_URC_EVENT:
        assert_int_equal(u->u.event.evt, w->u.event.evt);
        assert_int_equal(u->u.event.has_param, w->u.event.has_param);
        assert_int_equal(u->u.event.param, w->u.event.param);
        break;
    case M531X_URC_NSMI:
        assert_int_equal(u->u.nsmi.status, w->u.nsmi.status);
        assert_int_equal(u->u.nsmi.num, w->u.nsmi.num);
        break;
    case M531X_URC_DISCOVER:
    case M531X_URC_CREATE: break;
    }
}

static void run_urc_case(void **state)
{
    const struct urc_case *c = *state;
    char *line = exact_copy(c->line, c->len);
    struct m531x_urc u;
    int rc = m531x_decode_urc(line, c->len, c->opaque, &u);

    if (rc != c->rc)
        print_error("decode: %d (%s), want %d\n", rc, u.reason ? u.reason : "-",
                    c->rc);
    assert_int_equal(rc, c->rc);
    if (rc == 0) {
        check_urc(c, &u);
    } else {
        assert_non_null(u.reason);
        assert_string_equal(u.reason, c->reason);
    }
    free(line);
}

/* Every prefix of every table line: no over-read (ASan), and a failure
 * always carries a reason. */
static void prefix_sweep_never_overreads(void **state)
{
    (void)state;
    for (size_t i = 0; i < GW_ARRAY_LEN(urc_cases); i++) {
        const struct urc_case *c = &urc_cases[i];

        for (size_t n = 0; n <= c->len; n++) {
            char *line = exact_copy(c->line, n);
            struct m531x_urc u;
            int rc = m531x_decode_urc(line, n, M531X_OPAQUE_AUTO, &u);

            if (rc < 0)
                assert_non_null(u.reason);
            else
                assert_int_equal(rc, 0);
            free(line);
        }
    }
}

/* A refused request keeps its kind and, when it decoded, its msgid: the
 * machine answers a chunk it cannot decode with write-fail. */
static void refused_request_keeps_msgid(void **state)
{
    static const struct {
        const char *line;
        int rc;
        enum m531x_urc_kind kind;
        int32_t msgid;
    } cases[] = {
        {"+MIPLWRITE:0,27496,5,0,0,2,4,0102X304,1", GW_E_INVAL, M531X_URC_WRITE,
         27496},
        {"+MIPLWRITE:0,27496,5,0,0,2,8", GW_E_TRUNC, M531X_URC_WRITE, 27496},
        {"+MIPLWRITE: 0, 17507, 5, 0, 0, 9, 2, 0102, 0", GW_E_RANGE,
         M531X_URC_WRITE, 17507},
        {"+MIPLWRITE:0,x,5,0,0,2,2,0102,0", GW_E_INVAL, M531X_URC_WRITE, -1},
        {"+MIPLWRITE:0,-5,5,0,0,2,2,0102,0", GW_E_RANGE, M531X_URC_WRITE, -1},
        {"+MIPLWRITE:", GW_E_TRUNC, M531X_URC_WRITE, -1},
        {"+MIPLREAD:0,77,3", GW_E_TRUNC, M531X_URC_READ, 77},
        {"+MIPLEXECUTE:0,61,5,0,26501,0,\"a\"b\"", GW_E_INVAL,
         M531X_URC_EXECUTE, 61},
    };

    (void)state;
    for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
        size_t n = strlen(cases[i].line);
        char *line = exact_copy(cases[i].line, n);
        struct m531x_urc u;
        int rc = m531x_decode_urc(line, n, M531X_OPAQUE_AUTO, &u);

        if (rc != cases[i].rc || u.kind != cases[i].kind ||
            u.msgid != cases[i].msgid)
            fail_msg("\"%s\": rc %d kind %d msgid %d, want %d %d %d",
                     cases[i].line, rc, (int)u.kind, (int)u.msgid, cases[i].rc,
                     (int)cases[i].kind, (int)cases[i].msgid);
        assert_non_null(u.reason);
        free(line);
    }
}

/* "+MIPLWRITE:0,1,5,0,0,2,<len>,<hex>,1" with nbytes of payload. */
static char *make_write(size_t nbytes, long len, size_t *out_len)
{
    size_t cap = 64 + 2 * nbytes;
    char *buf = malloc(cap);
    int n;

    assert_non_null(buf);
    n = snprintf(buf, cap, "+MIPLWRITE:0,1,5,0,0,2,%ld,", len);
    assert_true(n > 0);
    for (size_t i = 0; i < 2 * nbytes; i++)
        buf[(size_t)n + i] = "0123456789ABCDEF"[i % 16];
    memcpy(buf + (size_t)n + 2 * nbytes, ",1", 2);
    *out_len = (size_t)n + 2 * nbytes + 2;
    return buf;
}

static void write_payload_limits(void **state)
{
    size_t len;
    char *text;
    char *line;
    struct m531x_urc u;

    (void)state;
    /* the largest block the CIS SDK sends, len in bytes */
    text = make_write(M531X_OPAQUE_MAX, M531X_OPAQUE_MAX, &len);
    line = exact_copy(text, len);
    assert_int_equal(m531x_decode_urc(line, len, M531X_OPAQUE_AUTO, &u), 0);
    assert_int_equal(u.u.write.data_len, M531X_OPAQUE_MAX);
    assert_int_equal(u.u.write.len_unit, M531X_LEN_BYTES);
    free(line);
    free(text);

    /* one byte more: over-long, whatever len says */
    text = make_write(M531X_OPAQUE_MAX + 1, M531X_OPAQUE_MAX + 1, &len);
    line = exact_copy(text, len);
    assert_int_equal(m531x_decode_urc(line, len, M531X_OPAQUE_AUTO, &u),
                     GW_E_TOOLONG);
    assert_string_equal(u.reason,
                        "opaque value longer than M531X_OPAQUE_MAX bytes");
    free(line);
    free(text);

    /* a line longer than the framer ever delivers */
    text = make_write(AT_LINE_MAX / 2, AT_LINE_MAX / 2, &len);
    line = exact_copy(text, len);
    assert_int_equal(m531x_decode_urc(line, len, M531X_OPAQUE_AUTO, &u),
                     GW_E_TOOLONG);
    assert_string_equal(u.reason, "line longer than AT_LINE_MAX");
    free(line);
    free(text);
}

static void write_data_decodes(void **state)
{
    static const char text[] = "+MIPLWRITE:0,27496,5,0,0,2,4,C7AC46F8,1";
    static const uint8_t want[] = {0xc7, 0xac, 0x46, 0xf8};
    char *line = exact_copy(text, sizeof text - 1);
    uint8_t out[4];
    struct m531x_urc u;

    (void)state;
    assert_int_equal(
        m531x_decode_urc(line, sizeof text - 1, M531X_OPAQUE_AUTO, &u), 0);
    assert_int_equal(m531x_write_data(&u, out, sizeof out), 4);
    assert_memory_equal(out, want, sizeof want);
    assert_int_equal(m531x_write_data(&u, out, 3), GW_E_NOSPACE);
    u.u.write.type = M531X_TYPE_STRING;
    assert_int_equal(m531x_write_data(&u, out, sizeof out), GW_E_INVAL);
    u.kind = M531X_URC_READ;
    assert_int_equal(m531x_write_data(&u, out, sizeof out), GW_E_INVAL);
    free(line);
}

static void is_mipl_urc_names(void **state)
{
    static const struct {
        const char *line;
        int want;
    } t[] = {
        {"+MIPLREAD:0,1,3,0,9", 1},
        {"+MIPLWRITE:", 1},
        {"+MIPLEXECUTE:0", 1},
        {"+MIPLOBSERVE:", 1},
        {"+MIPLDISCOVER:", 1},
        {"+MIPLPARAMETER:", 1},
        {"+MIPLEVENT: 0, 6", 1},
        {"+MIPLCREATE:0", 1},
        {"+MIPLCREATEEX:0", 1},
        {"+MIPLNSMI:0,1,1", 1},
        {"+MIPLVER:2.1", 0},
        {"+MIPLREAD", 0},
        {"+CGATT:1", 0},
        {"OK", 0},
        {"", 0},
    };

    (void)state;
    for (size_t i = 0; i < GW_ARRAY_LEN(t); i++) {
        size_t n = strlen(t[i].line);
        char *line = exact_copy(t[i].line, n);

        assert_int_equal(m531x_is_mipl_urc(line, n), t[i].want);
        free(line);
    }
}

static void names(void **state)
{
    (void)state;
    assert_string_equal(m531x_event_name(6), "register success");
    assert_string_equal(m531x_event_name(11), "update success");
    assert_string_equal(m531x_event_name(53), "SOTA flash erase");
    assert_null(m531x_event_name(0));
    assert_null(m531x_event_name(99));
    assert_string_equal(m531x_urc_kind_name(M531X_URC_WRITE), "write");
    assert_string_equal(m531x_urc_kind_name(M531X_URC_NSMI), "nsmi");
}

/* ---- seed replay ------------------------------------------------------ */

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

struct replay {
    uint8_t image[16384];
    size_t image_len;
    int flags[32];
    size_t chunks;
    size_t urcs;
    int empty_writes;
};

static void replay_urc(struct replay *r, const char *text, size_t len)
{
    char *line = exact_copy(text, len);
    struct m531x_urc u;
    int rc = m531x_decode_urc(line, len, M531X_OPAQUE_AUTO, &u);

    if (rc != 0)
        print_error("seed line %.40s...: %s\n", text, u.reason);
    assert_int_equal(rc, 0);
    r->urcs++;
    if (u.kind == M531X_URC_WRITE && u.u.write.data_len > 0) {
        assert_int_equal(u.u.write.len_unit, M531X_LEN_BYTES);
        assert_true(r->chunks < GW_ARRAY_LEN(r->flags));
        r->flags[r->chunks++] = u.u.write.flag;
        rc = m531x_write_data(&u, r->image + r->image_len,
                              sizeof r->image - r->image_len);
        assert_int_equal(rc, u.u.write.len);
        r->image_len += (size_t)rc;
    } else if (u.kind == M531X_URC_WRITE) {
        r->empty_writes++;
    }
    free(line);
}

static void seed_replay_rebuilds_image(void **state)
{
    size_t tlen, ilen;
    char *text =
        (char *)read_file(GW_TEST_DATA_DIR "/seed/seed-transcript.txt", &tlen);
    uint8_t *image = read_file(GW_TEST_DATA_DIR "/seed/seed-image.bin", &ilen);
    struct replay *r = calloc(1, sizeof *r);
    char *held = malloc(AT_LINE_MAX + 1);
    size_t held_len = 0;
    char *save = NULL;

    (void)state;
    assert_non_null(r);
    assert_non_null(held);
    for (char *ln = strtok_r(text, "\n", &save); ln != NULL;
         ln = strtok_r(NULL, "\n", &save)) {
        size_t n;

        if (ln[0] != '<')
            continue;
        ln += ln[1] == ' ' ? 2 : 1;
        n = strlen(ln);
        if (n == 0)
            continue;       /* the blank line of the seed's layout */
        if (held_len > 0) { /* the value line of a split write */
            assert_true(held_len + n <= AT_LINE_MAX);
            memcpy(held + held_len, ln, n);
            replay_urc(r, held, held_len + n);
            held_len = 0;
            continue;
        }
        if (strncmp(ln, "+MIPL", 5) != 0)
            continue;
        if (strncmp(ln, "+MIPLWRITE:", 11) == 0 && ln[n - 1] == ',') {
            memcpy(held, ln, n);
            held_len = n;
            continue;
        }
        replay_urc(r, ln, n);
    }
    assert_int_equal(held_len, 0);
    assert_int_equal(r->chunks, 14);
    assert_int_equal(r->flags[0], M531X_FLAG_FIRST);
    for (size_t i = 1; i < 13; i++)
        assert_int_equal(r->flags[i], M531X_FLAG_MIDDLE);
    assert_int_equal(r->flags[13], M531X_FLAG_LAST);
    assert_int_equal(r->empty_writes, 1);
    assert_int_equal(r->urcs, 28);
    assert_int_equal(r->image_len, ilen);
    assert_memory_equal(r->image, image, ilen);
    free(held);
    free(r);
    free(image);
    free(text);
}

/* The same replay through the real framer (dio/at_frame.h): the module's
 * lines are fed with CR LF, the commands set the pending command, and every
 * +MIPL URC the framer delivers must decode. */
static void framer_line(const struct at_line *line, void *ctx)
{
    struct replay *r = ctx;

    if (line->kind == AT_LINE_URC && m531x_is_mipl_urc(line->text, line->len))
        replay_urc(r, line->text, line->len);
}

static void seed_replay_through_framer(void **state)
{
    size_t tlen, ilen;
    char *text =
        (char *)read_file(GW_TEST_DATA_DIR "/seed/seed-transcript.txt", &tlen);
    uint8_t *image = read_file(GW_TEST_DATA_DIR "/seed/seed-image.bin", &ilen);
    struct replay *r = calloc(1, sizeof *r);
    struct at_framer *fr = at_framer_new();
    char *save = NULL;

    (void)state;
    assert_non_null(r);
    assert_non_null(fr);
    for (char *ln = strtok_r(text, "\n", &save); ln != NULL;
         ln = strtok_r(NULL, "\n", &save)) {
        if (ln[0] == '>') {
            at_framer_set_pending(fr, ln + (ln[1] == '!' ? 3 : 2));
        } else if (ln[0] == '<') {
            ln += ln[1] == ' ' ? 2 : 1;
            at_framer_feed(fr, (const uint8_t *)ln, strlen(ln), framer_line, r);
            at_framer_feed(fr, (const uint8_t *)"\r\n", 2, framer_line, r);
        }
    }
    at_framer_flush(fr, framer_line, r);
    assert_int_equal(r->chunks, 14);
    assert_int_equal(r->empty_writes, 1);
    assert_int_equal(r->urcs, 28);
    assert_int_equal(r->image_len, ilen);
    assert_memory_equal(r->image, image, ilen);
    at_framer_free(fr);
    free(r);
    free(image);
    free(text);
}

int main(void)
{
    struct CMUnitTest tests[GW_ARRAY_LEN(urc_cases) + 8];
    size_t n = 0;

    for (size_t i = 0; i < GW_ARRAY_LEN(urc_cases); i++) {
        tests[n].name = urc_cases[i].name;
        tests[n].test_func = run_urc_case;
        tests[n].setup_func = NULL;
        tests[n].teardown_func = NULL;
        tests[n].initial_state = (void *)(uintptr_t)&urc_cases[i];
        n++;
    }
    tests[n++] =
        (struct CMUnitTest)cmocka_unit_test(prefix_sweep_never_overreads);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(write_payload_limits);
    tests[n++] =
        (struct CMUnitTest)cmocka_unit_test(refused_request_keeps_msgid);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(write_data_decodes);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(is_mipl_urc_names);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(names);
    tests[n++] =
        (struct CMUnitTest)cmocka_unit_test(seed_replay_rebuilds_image);
    tests[n++] =
        (struct CMUnitTest)cmocka_unit_test(seed_replay_through_framer);
    return cmocka_run_group_tests_name("m531x_urc", tests, NULL, NULL);
}
