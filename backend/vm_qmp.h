/*
 * vm_qmp.h — one short session with a QEMU monitor (QMP) over its unix
 * socket: read the greeting, `qmp_capabilities`, then each command in turn.
 * Used by vm_plug.cc to hot-plug a VM's btl segment device.
 *
 * ov_qmp_run(socket, commands, timeout_ms, &err): each command is one JSON
 * object ({"execute": ..., "arguments": ...}); asynchronous events QEMU
 * interleaves are skipped.  OV_OK when every command returned; else
 * OV_ERR_SYS with *err saying why (connect failed, a command's
 * {"error": {"desc": ...}}, the monitor closed, or no answer within
 * timeout_ms over the whole session); commands after a failure are not sent.
 * Never throws.
 */
#ifndef OMPI_VIRT_BACKEND_VM_QMP_H
#define OMPI_VIRT_BACKEND_VM_QMP_H

#include <string>
#include <vector>

#include "ov_protocol.h"

ov_status_t ov_qmp_run(const std::string &socket, const std::vector<std::string> &commands, int timeout_ms,
                       std::string *err) noexcept;

/* s as the contents of a JSON string (quotes, backslashes, control characters escaped). */
std::string ov_json_escape(const std::string &s);

#endif
