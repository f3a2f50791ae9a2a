/*
 * Stand-in for Open MPI's ompi/mpi/fortran/base/fint_2_int.h, which
 * ompi/op/op.h includes but Debian's libopenmpi-dev does not install.
 * op.h uses only OMPI_INT_2_FINT (to call Fortran user ops).  Debian builds
 * Open MPI with a Fortran INTEGER the size of a C int, where the real header
 * reduces these macros to plain casts too; configure checks that (see
 * OMPI_SIZEOF_FORTRAN_INTEGER below) so a different build fails loudly.
 */
#ifndef OMPI_VIRT_COMPAT_FINT_2_INT_H
#define OMPI_VIRT_COMPAT_FINT_2_INT_H

#include "ompi_config.h"

#if defined(OMPI_SIZEOF_FORTRAN_INTEGER) && defined(SIZEOF_INT) && \
    OMPI_SIZEOF_FORTRAN_INTEGER != SIZEOF_INT
#error "this Open MPI has a Fortran INTEGER that is not a C int: use its own fint_2_int.h"
#endif

#define OMPI_INT_2_FINT(a) ((MPI_Fint) (a))
#define OMPI_FINT_2_INT(a) ((int) (a))

#endif
