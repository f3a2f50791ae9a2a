/*
 * ib_virt_c_smoke.c — ib_virt.h compiles as C99 (-pedantic -Werror) and a C
 * program can open a NIC on tcp;ofi_rxm, register memory, export its mapping
 * and close it. Exit 0 = pass, 77 = skipped (automake's code), 1 = fail.
 */
#include "ib_virt.h"

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    ibvirt_open_attr attr = {0};
    ibvirt_nic *nic = NULL;
    static char region[4096];
    uint32_t vkey = 99;
    size_t len;
    char *blob;
    int rc;

    attr.provider = "tcp;ofi_rxm";
    attr.node = "127.0.0.1";
    attr.self = 0;
    attr.max_peers = 2;
    attr.max_keys = 4;
    rc = ibvirt_open(&attr, &nic);
    if (rc == IBVIRT_ERR_NODEV) {
        printf("SKIP: tcp;ofi_rxm not available: %s\n", ibvirt_strerror(rc));
        return 77;
    }
    if (rc != IBVIRT_OK) {
        printf("FAIL: ibvirt_open: %s\n", ibvirt_strerror(rc));
        return 1;
    }
    rc = ibvirt_mr_reg(nic, region, sizeof region, IBVIRT_ACCESS_LOCAL | IBVIRT_ACCESS_REMOTE, &vkey);
    if (rc != IBVIRT_OK || vkey != 0) {
        printf("FAIL: ibvirt_mr_reg: %s (vkey %u)\n", ibvirt_strerror(rc), (unsigned) vkey);
        return 1;
    }
    len = ibvirt_ctrl_max_size(nic);
    blob = malloc(len);
    rc = blob ? ibvirt_mapping_export(nic, blob, &len) : IBVIRT_ERR_NOMEM;
    if (rc != IBVIRT_OK) {
        printf("FAIL: ibvirt_mapping_export: %s\n", ibvirt_strerror(rc));
        return 1;
    }
    printf("ok: provider %s caps 0x%x mapping %zu bytes\n", ibvirt_provider(nic),
           (unsigned) ibvirt_caps(nic), len);
    free(blob);
    ibvirt_close(nic);
    return 0;
}
