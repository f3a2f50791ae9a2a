/*
 * ov_acc.h — element arithmetic of accumulate requests (OV_OP_ACC,
 * OV_OP_GET_ACC) and compare-and-swap (OV_OP_CAS).  MPI-free; in
 * libompi_virt_frontend (so osc virt can ask what the backend accepts) and
 * used by the backend executor, the unit tests and the fuzz target.
 *
 * Which op is valid for which element kind is MPI-3.1 section 5.9.2 for the
 * kinds of ov_dtype_kind (ov_protocol.h):
 *
 *   SUM, PROD              INT, UINT, FLOAT, COMPLEX
 *   MIN, MAX               INT, UINT, FLOAT
 *   LAND, LOR, LXOR        INT, UINT, BOOL, LOGICAL
 *   BAND, BOR, BXOR        INT, UINT, BYTES
 *   REPLACE, NO_OP         every kind
 *
 * and the element sizes each kind has:
 *
 *   BYTES 1,2,4,8,16,32   INT/UINT 1,2,4,8   FLOAT 4,8,16   COMPLEX 8,16,32
 *   BOOL 1                LOGICAL 4
 *
 * FLOAT 16 / COMPLEX 32 are the x86 80-bit long double in 16 bytes; they
 * are valid only where long double is exactly that (x86-64).
 *
 * Semantics (all little details an MPI user could observe):
 *   - INT/UINT SUM and PROD wrap modulo 2^(8*size) (two's complement).
 *   - MIN/MAX keep the target element unless the origin compares strictly
 *     less/greater (so a NaN origin never replaces a target).
 *   - COMPLEX PROD is the textbook (ac-bd, ad+bc); no Annex G NaN repair.
 *   - Logical ops treat any non-zero element as true and store 0 or 1 at
 *     the element's width.
 *   - FLOAT 16 results have their 6 padding bytes zeroed.
 *   - NO_OP changes nothing and reads no origin.
 *
 * Memory: elements are read and written with memcpy, so buffers need no
 * alignment (window offsets are arbitrary).
 */
#ifndef OMPI_VIRT_COMMON_OV_ACC_H
#define OMPI_VIRT_COMMON_OV_ACC_H

#include <cstdint>

#include "ov_protocol.h"

/* Is `size` an element size of `kind` (table above)?  False for an unknown kind. */
bool ov_dtype_valid(uint8_t kind, uint16_t size) noexcept;

/* Is acc_op (OV_ACC_SUM..OV_ACC_NO_OP) defined on (kind, size)?  False for
 * OV_ACC_NONE, unknown ops and kinds, and sizes the kind does not have. */
bool ov_acc_valid(uint8_t acc_op, uint8_t kind, uint16_t size) noexcept;

/* target[i] = acc_op(target[i], origin[i]) for i < nelems.  Precondition:
 * ov_acc_valid(acc_op, kind, size) (otherwise nothing is done), and origin
 * is either exactly target or does not overlap [target, +nelems*size). */
void ov_acc_apply(uint8_t acc_op, uint8_t kind, uint16_t size, void *target, const void *origin,
                  uint64_t nelems) noexcept;

/* One element of `size` bytes (1..32): copies the target into *old, then
 * if the target equals *compare bytewise stores *origin into it.  Any of the
 * four buffers may alias another.  Returns true if it swapped; false (and
 * touches nothing) if size is 0 or above 32. */
bool ov_acc_cas(void *target, const void *origin, const void *compare, void *old, uint16_t size) noexcept;

#endif
