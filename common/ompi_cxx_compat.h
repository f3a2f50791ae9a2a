/*
 * ompi_cxx_compat.h — include Open MPI 4.1's internal headers from C++.
 *
 * Contract: include this header FIRST in every C++ translation unit that
 * includes Open MPI or OPAL framework headers (ompi/..., opal/...).
 *
 * Why: opal/threads/thread_usage.h defines OPAL_THREAD_COMPARE_EXCHANGE_STRONG_PTR
 * with a `(void *)` cast for the "compare" argument; C converts that to the
 * `void **` parameter silently, C++ refuses.  Inline functions in
 * ompi/request/request.h expand the macro, so it must be fixed after
 * thread_usage.h is read and before request.h is.  Nothing else needs changing.
 */
#ifndef OMPI_VIRT_COMMON_OMPI_CXX_COMPAT_H
#define OMPI_VIRT_COMMON_OMPI_CXX_COMPAT_H

#include "ompi_config.h"
#include "opal/threads/thread_usage.h"

#undef OPAL_THREAD_COMPARE_EXCHANGE_STRONG_PTR
#define OPAL_THREAD_COMPARE_EXCHANGE_STRONG_PTR(addr, compare, value)              \
    opal_thread_compare_exchange_strong_ptr((volatile intptr_t *) (addr),          \
                                            (void **) (compare), (void *) (value))

/*
 * opal/mca/base/mca_base_var_group.h declares its functions without C
 * linkage guards, so C++ would reference mangled names that libopen-pal does
 * not export.  Read it once here with C linkage; its include guard keeps later
 * inclusions from undoing that.  (The components' `make check` fails on any
 * mangled reference to an Open MPI symbol, so a new such header shows up.)
 */
#include "opal/class/opal_list.h"
#include "opal/class/opal_value_array.h"
#include "opal/mca/mca.h"
extern "C" {
#include "opal/mca/base/mca_base_var_group.h"
}
/* Same for opal/util/proc.h (opal_proc_local_get, which OPAL_PROC_MY_NAME
 * calls), which the headers below include: read it first with C linkage. */
extern "C" {
#include "opal/util/proc.h"
}
/* Same for opal/util/info_subscriber.h (opal_infosubscribe_subscribe). */
#include "opal/class/opal_hash_table.h"
#include "opal/util/info.h"
extern "C" {
#include "opal/util/info_subscriber.h"
}

#endif
