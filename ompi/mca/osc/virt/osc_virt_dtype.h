/*
 * osc_virt_dtype.h — what the backend path needs to know of MPI datatypes and
 * ops: which element kind the backend computes with, and the contiguous
 * pieces an (address, count, datatype) triple covers.
 *
 * Routing rule (why accumulate_kind() looks only at the datatype): MPI makes
 * accumulates atomic per element only among accumulates on the same basic
 * datatype.  Either the backend executes every accumulate of a basic type on
 * a target, or the fallback does; never both.  So the choice depends on the
 * type alone, never on the op: pair types (MPI_2INT, MPI_DOUBLE_INT, ... for
 * MINLOC/MAXLOC), 128-bit integers and half floats go to the fallback for
 * every op, everything else goes to the backend for every op.
 */
#ifndef OMPI_OSC_VIRT_DTYPE_H
#define OMPI_OSC_VIRT_DTYPE_H

#include "ompi_cxx_compat.h"

#include "ompi/datatype/ompi_datatype.h"
/* ompi/op/op.h's inline ompi_3buff_op_user passes void * where
 * ompi_datatype_copy_content_same_ddt declares char *: C converts, C++
 * refuses.  Cast inside that one header only. */
#define ompi_datatype_copy_content_same_ddt(dt, n, dst, src) \
    ompi_datatype_copy_content_same_ddt((dt), (n), (char *) (dst), (char *) (src))
#include "ompi/op/op.h"
#undef ompi_datatype_copy_content_same_ddt
#include "opal/datatype/opal_convertor.h"

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

namespace ov::osc {

/** Element kind/size of `dt`'s single basic type for backend accumulates;
 *  false when the backend does not serve accumulates of that type. */
bool accumulate_kind(ompi_datatype_t *dt, uint8_t *kind, uint16_t *size);

/** ov_acc_op of an MPI op; false for MINLOC/MAXLOC and user-defined ops. */
bool accumulate_op(ompi_op_t *op, uint8_t *acc_op);

/** Walks the contiguous pieces of `count` elements of `dt` starting at
 *  `base` (which may be a fake address: only differences are used), in the
 *  order the data is packed.  Contiguous layouts cost one piece, no
 *  convertor. */
class RawCursor {
public:
    RawCursor(const void *base, int count, ompi_datatype_t *dt);
    ~RawCursor();
    RawCursor(const RawCursor &) = delete;
    RawCursor &operator=(const RawCursor &) = delete;

    /** Bytes left in the current piece (0: no data left). */
    size_t avail();
    /** Address of the current position. */
    char *pos() const { return cur_; }
    /** Consumes n <= avail() bytes. */
    void advance(size_t n);
    /** Total bytes the triple describes (count * type size). */
    size_t total() const { return total_; }

private:
    void refill();
    opal_convertor_t conv_; /* constructed only for non-contiguous layouts (have_conv_) */
    bool have_conv_ = false, use_conv_ = false, conv_done_ = false;
    struct iovec iov_[32];
    uint32_t n_ = 0, i_ = 0;
    char *cur_ = nullptr;
    size_t left_ = 0, total_ = 0;
};

} // namespace ov::osc

#endif /* OMPI_OSC_VIRT_DTYPE_H */
