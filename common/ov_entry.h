/*
 * ov_entry.h — the one way a C++ function of ours is handed to C code that
 * calls it back (Open MPI's component and module function tables, progress
 * callbacks): OV_ENTRY(fn).
 *
 * OV_ENTRY(fn) is the address of ov::entry<&fn>::call, a noexcept function
 * with fn's signature that runs fn and turns any C++ exception escaping it
 * into the value the C caller reads as an error (ov::entry_error<R>):
 *   int    std::bad_alloc -> -2 (OPAL_ERR_OUT_OF_RESOURCE, the same value
 *          as OMPI_ERR_OUT_OF_RESOURCE), anything else -> -1 (OPAL_ERROR,
 *          = OMPI_ERROR); the components static_assert those values;
 *   T *    nullptr (what Open MPI's init-style calls read as failure);
 *   void   nothing (the exception is swallowed: there is no way to say).
 * fn must be a function (not a lambda), with internal or external linkage.
 *
 * Why a wrapper and not try/catch in each function: an exception unwinding
 * into Open MPI's C frames is undefined behaviour (in practice
 * std::terminate), and a wrapper at the table is the one place a check can
 * see: test/check-entry-points.sh fails the build's `make check` when any
 * function-pointer field of an Open MPI table (named by Open MPI's own
 * headers) is assigned something other than OV_ENTRY(...) or nullptr.
 * MPI-free: the unit tests drive it directly.
 */
#ifndef OMPI_VIRT_OV_ENTRY_H
#define OMPI_VIRT_OV_ENTRY_H

#include <new>

namespace ov {

template <class R> struct entry_error {
    static R nomem() { return R(-2); }
    static R other() { return R(-1); }
};
template <class T> struct entry_error<T *> {
    static T *nomem() { return nullptr; }
    static T *other() { return nullptr; }
};
template <> struct entry_error<void> {
    static void nomem() {}
    static void other() {}
};

template <auto Fn> struct entry;
template <class R, class... A, R (*Fn)(A...)> struct entry<Fn> {
    static R call(A... a) noexcept
    {
        try {
            return Fn(a...);
        } catch (const std::bad_alloc &) {
            return entry_error<R>::nomem();
        } catch (...) {
            return entry_error<R>::other();
        }
    }
};

} // namespace ov

#define OV_ENTRY(fn) (&::ov::entry<&(fn)>::call)

#endif /* OMPI_VIRT_OV_ENTRY_H */
