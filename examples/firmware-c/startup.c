/* Start-up for the Cortex-M4F of QEMU's mps2-an386: vector table, .data/.bss
 * set-up, FPU on (libkeel for thumbv7em-none-eabihf uses the hard-float ABI),
 * then main(); its return value becomes the semihosting exit status. */
#include <stdint.h>

#include "semihosting.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);

__attribute__((noreturn)) void Reset_Handler(void);
__attribute__((noreturn)) void Fault_Handler(void);

void Reset_Handler(void)
{
    uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }
    /* CPACR: full access to CP10/CP11 (the FPU). */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    sh_exit(main() == 0);
}

void Fault_Handler(void)
{
    sh_puts("FAULT\n");
    sh_exit(0);
}

/* Initial stack pointer, then the 15 system exception handlers. */
struct vector_table {
    uint32_t *initial_sp;
    void (*handlers[15])(void);
};

__attribute__((section(".vector_table"), used)) static const struct vector_table vectors = {
    &_estack,
    {
        Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
        0, 0, 0, 0, Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler,
    },
};
