/* Minimal ARM semihosting (BKPT 0xAB on M-profile): write to the host's
 * stdout (SYS_OPEN ":tt", SYS_WRITE) and exit with a status (SYS_EXIT). */
#include "semihosting.h"

#define SYS_OPEN 0x01
#define SYS_WRITE 0x05
#define SYS_EXIT 0x18
#define ADP_STOPPED_APPLICATION_EXIT 0x20026
#define ADP_STOPPED_RUN_TIME_ERROR 0x20023

static uintptr_t sh_call(uintptr_t op, uintptr_t arg)
{
    register uintptr_t r0 __asm__("r0") = op;
    register uintptr_t r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* The host's stdout: ":tt" opened for writing (mode 4, "w"). */
static uintptr_t sh_stdout(void)
{
    static uintptr_t fd = (uintptr_t)-1;
    if (fd == (uintptr_t)-1) {
        static const char name[] = ":tt";
        uintptr_t args[3] = {(uintptr_t)name, 4, sizeof name - 1};
        fd = sh_call(SYS_OPEN, (uintptr_t)args);
    }
    return fd;
}

void sh_puts(const char *s)
{
    uintptr_t n = 0;
    while (s[n] != '\0') {
        n++;
    }
    uintptr_t args[3] = {sh_stdout(), (uintptr_t)s, n};
    (void)sh_call(SYS_WRITE, (uintptr_t)args);
}

void sh_put_u64(uint64_t v)
{
    char buf[21];
    int i = 20;
    buf[i] = '\0';
    do {
        uint64_t q = v / 10u;
        buf[--i] = (char)('0' + (int)(v - q * 10u));
        v = q;
    } while (v != 0 && i > 0);
    sh_puts(&buf[i]);
}

void sh_put_i64(int64_t v)
{
    if (v < 0) {
        sh_puts("-");
        sh_put_u64((uint64_t)0 - (uint64_t)v);
    } else {
        sh_put_u64((uint64_t)v);
    }
}

void sh_put_hex(uint64_t v)
{
    char buf[19] = "0x";
    for (int k = 0; k < 16; k++) {
        unsigned d = (unsigned)((v >> (60 - 4 * k)) & 0xFu);
        buf[2 + k] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    }
    buf[18] = '\0';
    sh_puts(buf);
}

void sh_exit(int ok)
{
    (void)sh_call(SYS_EXIT, ok ? ADP_STOPPED_APPLICATION_EXIT : ADP_STOPPED_RUN_TIME_ERROR);
    for (;;) {
    }
}
