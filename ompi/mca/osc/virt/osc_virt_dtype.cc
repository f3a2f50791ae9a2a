/*
 * osc_virt_dtype.cc — datatype and op classification, raw layout walking
 * (contract: osc_virt_dtype.h).
 */
#include "osc_virt_dtype.h"

#include "ov_protocol.h"


#include <algorithm>

namespace ov::osc {

bool accumulate_kind(ompi_datatype_t *dt, uint8_t *kind, uint16_t *size)
{
    ompi_datatype_t *basic = ompi_datatype_get_single_predefined_type_from_args(dt);
    if (nullptr == basic) {
        return false;
    }
    size_t sz = 0;
    ompi_datatype_type_size(basic, &sz);
    const int mapped = (basic->id >= 0 && basic->id < OMPI_DATATYPE_MAX_PREDEFINED)
                           ? ompi_op_ddt_map[basic->id] : -1;
    uint8_t k;
    switch (mapped) {
    case OMPI_OP_BASE_TYPE_INT8_T: case OMPI_OP_BASE_TYPE_INT16_T:
    case OMPI_OP_BASE_TYPE_INT32_T: case OMPI_OP_BASE_TYPE_INT64_T:
    case OMPI_OP_BASE_TYPE_INTEGER: case OMPI_OP_BASE_TYPE_INTEGER1:
    case OMPI_OP_BASE_TYPE_INTEGER2: case OMPI_OP_BASE_TYPE_INTEGER4:
    case OMPI_OP_BASE_TYPE_INTEGER8: case OMPI_OP_BASE_TYPE_LONG:
        k = OV_DT_INT;
        break;
    case OMPI_OP_BASE_TYPE_UINT8_T: case OMPI_OP_BASE_TYPE_UINT16_T:
    case OMPI_OP_BASE_TYPE_UINT32_T: case OMPI_OP_BASE_TYPE_UINT64_T:
    case OMPI_OP_BASE_TYPE_UNSIGNED_LONG:
        k = OV_DT_UINT;
        break;
    case OMPI_OP_BASE_TYPE_FLOAT: case OMPI_OP_BASE_TYPE_DOUBLE:
    case OMPI_OP_BASE_TYPE_REAL: case OMPI_OP_BASE_TYPE_REAL4:
    case OMPI_OP_BASE_TYPE_REAL8: case OMPI_OP_BASE_TYPE_DOUBLE_PRECISION:
    case OMPI_OP_BASE_TYPE_LONG_DOUBLE:
        k = OV_DT_FLOAT;
        if (16 == sz && sizeof(long double) != 16) {
            return false;
        }
        break;
    case OMPI_OP_BASE_TYPE_C_FLOAT_COMPLEX: case OMPI_OP_BASE_TYPE_C_DOUBLE_COMPLEX:
    case OMPI_OP_BASE_TYPE_C_LONG_DOUBLE_COMPLEX:
        k = OV_DT_COMPLEX;
        break;
    case OMPI_OP_BASE_TYPE_BOOL:
        k = OV_DT_BOOL;
        break;
    case OMPI_OP_BASE_TYPE_LOGICAL:
        k = OV_DT_LOGICAL;
        break;
    case OMPI_OP_BASE_TYPE_BYTE:
        k = OV_DT_BYTES;
        break;
    case -1:
        /* Types no reduction applies to (MPI_CHAR's relatives in some
         * builds, MPI_PACKED...): only REPLACE/NO_OP reach us, bytes do. */
        k = OV_DT_BYTES;
        break;
    default:
        /* pair types (MINLOC/MAXLOC), INTEGER16, REAL2/REAL16, WCHAR */
        return false;
    }
    switch (k) {
    case OV_DT_INT: case OV_DT_UINT:
        if (sz != 1 && sz != 2 && sz != 4 && sz != 8) return false;
        break;
    case OV_DT_FLOAT:
        if (sz != 4 && sz != 8 && sz != 16) return false;
        break;
    case OV_DT_COMPLEX:
        if (sz != 8 && sz != 16 && sz != 32) return false;
        break;
    case OV_DT_BOOL:
        if (sz != 1) return false;
        break;
    case OV_DT_LOGICAL:
        if (sz != 4) return false;
        break;
    default:
        if (sz != 1 && sz != 2 && sz != 4 && sz != 8 && sz != 16 && sz != 32) return false;
    }
    *kind = k;
    *size = static_cast<uint16_t>(sz);
    return true;
}

bool accumulate_op(ompi_op_t *op, uint8_t *acc_op)
{
    if (op == &ompi_mpi_op_no_op.op) {
        *acc_op = OV_ACC_NO_OP;
        return true;
    }
    if (op == &ompi_mpi_op_replace.op) {
        *acc_op = OV_ACC_REPLACE;
        return true;
    }
    if (!ompi_op_is_intrinsic(op)) {
        return false;
    }
    switch (op->op_type) {
    case OMPI_OP_MAX: *acc_op = OV_ACC_MAX; return true;
    case OMPI_OP_MIN: *acc_op = OV_ACC_MIN; return true;
    case OMPI_OP_SUM: *acc_op = OV_ACC_SUM; return true;
    case OMPI_OP_PROD: *acc_op = OV_ACC_PROD; return true;
    case OMPI_OP_LAND: *acc_op = OV_ACC_LAND; return true;
    case OMPI_OP_BAND: *acc_op = OV_ACC_BAND; return true;
    case OMPI_OP_LOR: *acc_op = OV_ACC_LOR; return true;
    case OMPI_OP_BOR: *acc_op = OV_ACC_BOR; return true;
    case OMPI_OP_LXOR: *acc_op = OV_ACC_LXOR; return true;
    case OMPI_OP_BXOR: *acc_op = OV_ACC_BXOR; return true;
    case OMPI_OP_REPLACE: *acc_op = OV_ACC_REPLACE; return true;
    default: return false;
    }
}

RawCursor::RawCursor(const void *base, int count, ompi_datatype_t *dt)
{
    size_t sz = 0;
    ompi_datatype_type_size(dt, &sz);
    total_ = sz * static_cast<size_t>(count > 0 ? count : 0);
    if (0 == total_) {
        return;
    }
    if (ompi_datatype_is_contiguous_memory_layout(dt, count)) {
        ptrdiff_t true_lb = 0, true_extent = 0;
        ompi_datatype_get_true_extent(dt, &true_lb, &true_extent);
        cur_ = const_cast<char *>(static_cast<const char *>(base)) + true_lb;
        left_ = total_;
        return;
    }
    /* Only now: constructing and destructing a convertor costs more than
     * the rest of an 8-byte put (callgrind). */
    OBJ_CONSTRUCT(&conv_, opal_convertor_t);
    use_conv_ = have_conv_ = true;
    if (OPAL_SUCCESS != opal_convertor_copy_and_prepare_for_send(
                            ompi_mpi_local_convertor, &dt->super, count, base, 0, &conv_)) {
        total_ = 0;
        use_conv_ = false;
        return;
    }
    refill();
}

RawCursor::~RawCursor()
{
    if (have_conv_) {
        OBJ_DESTRUCT(&conv_);
    }
}

void RawCursor::refill()
{
    while (use_conv_ && 0 == left_) {
        if (i_ < n_) {
            cur_ = static_cast<char *>(iov_[i_].iov_base);
            left_ = iov_[i_].iov_len;
            ++i_;
            continue;
        }
        if (conv_done_) {
            return;
        }
        uint32_t n = sizeof iov_ / sizeof iov_[0];
        size_t length = 0;
        conv_done_ = 0 != opal_convertor_raw(&conv_, iov_, &n, &length);
        n_ = n;
        i_ = 0;
        if (0 == n && conv_done_) {
            return;
        }
    }
}

size_t RawCursor::avail()
{
    if (0 == left_) {
        refill();
    }
    return left_;
}

void RawCursor::advance(size_t n)
{
    cur_ += n;
    left_ -= n;
}

} // namespace ov::osc
