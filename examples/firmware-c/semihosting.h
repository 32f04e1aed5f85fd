/* Minimal ARM semihosting for QEMU: console output and exit. */
#ifndef KEEL_FW_SEMIHOSTING_H
#define KEEL_FW_SEMIHOSTING_H

#include <stdint.h>

void sh_puts(const char *s);
void sh_put_u64(uint64_t v);
void sh_put_i64(int64_t v);
void sh_put_hex(uint64_t v);
__attribute__((noreturn)) void sh_exit(int ok);

#endif
