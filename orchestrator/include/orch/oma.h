/* orch/oma.h: the LwM2M objects and resources of a OneNET SOTA upgrade
 * (docs/M531X-REFERENCE.md 3.1), named once for the whole gateway.
 *
 * The SOTA machine answers the platform's requests on these; the worker
 * names the one request it prepares for (execute 5/0/26501, the download
 * policies' counts). Instance 0 of each object is the only one used. */
#ifndef ORCH_OMA_H
#define ORCH_OMA_H

#define OMA_INSTANCE 0

/* Object 3, Device. */
#define OMA_OBJ_DEVICE      3
#define OMA_RES_DEV_BATTERY 9     /* battery level, % */
#define OMA_RES_DEV_VERSION 19    /* firmware version */
#define OMA_RES_DEV_FREE    26261 /* room for a new image, KiB */

/* Object 5, Firmware Update. */
#define OMA_OBJ_FIRMWARE     5
#define OMA_RES_FW_PACKAGE   0     /* write: the image, in chunks */
#define OMA_RES_FW_UPDATE    2     /* execute: flash the image */
#define OMA_RES_FW_STATE     3     /* read: OMA state */
#define OMA_RES_FW_RESULT    5     /* read: update result */
#define OMA_RES_FW_BYTES     26500 /* read: bytes durably received */
#define OMA_RES_FW_PREPARE   26501 /* execute: erase, start a download */
#define OMA_RES_FW_SOTA_MODE 26550 /* execute: enter SOTA mode */

#endif
