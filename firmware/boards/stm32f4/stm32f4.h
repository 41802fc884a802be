/* stm32f4.h: the STM32F405/407 registers the stm32f4 board files use (RM0090), and the hooks
 * between the USART console and the TIM2 instruction counter. Internal to firmware/boards/stm32f4. */
#ifndef PQ_STM32F4_H
#define PQ_STM32F4_H

#include <stdint.h>

#define PQ_REG(addr) (*(volatile uint32_t *)(addr))

/* Reset and clock control: peripheral clock enables. */
#define RCC_AHB1ENR PQ_REG(0x40023830u)
#define RCC_APB1ENR PQ_REG(0x40023840u)
#define RCC_APB2ENR PQ_REG(0x40023844u)
#define RCC_AHB1ENR_GPIOAEN (1u << 0)
#define RCC_APB1ENR_TIM2EN (1u << 0)
#define RCC_APB2ENR_USART1EN (1u << 4)

/* GPIO port A. */
#define GPIOA_MODER PQ_REG(0x40020000u)
#define GPIOA_OSPEEDR PQ_REG(0x40020008u)
#define GPIOA_PUPDR PQ_REG(0x4002000Cu)
#define GPIOA_AFRH PQ_REG(0x40020024u)

/* USART1 (the STM32F1/F2/F4 register layout: SR, DR, BRR, CR1..CR3). */
#define USART1_SR PQ_REG(0x40011000u)
#define USART1_DR PQ_REG(0x40011004u)
#define USART1_BRR PQ_REG(0x40011008u)
#define USART1_CR1 PQ_REG(0x4001100Cu)
#define USART1_CR2 PQ_REG(0x40011010u)
#define USART1_CR3 PQ_REG(0x40011014u)
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TC (1u << 6)
#define USART_SR_TXE (1u << 7)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_UE (1u << 13)

/* TIM2, a 32-bit general-purpose timer on APB1. */
#define TIM2_CR1 PQ_REG(0x40000000u)
#define TIM2_EGR PQ_REG(0x40000014u)
#define TIM2_CNT PQ_REG(0x40000024u)
#define TIM2_PSC PQ_REG(0x40000028u)
#define TIM2_ARR PQ_REG(0x4000002Cu)
#define TIM_CR1_CEN (1u << 0)
#define TIM_EGR_UG (1u << 0)

/* Cortex-M NVIC (USART1 is interrupt 37: bit 5 of the second enable/pending word) and
   system control block. */
#define NVIC_ISER1 PQ_REG(0xE000E104u)
#define NVIC_ICPR1 PQ_REG(0xE000E284u)
#define USART1_IRQ_BIT (1u << (37 - 32))
#define SCB_VTOR PQ_REG(0xE000ED08u)
#define SCB_AIRCR PQ_REG(0xE000ED0Cu)
#define SCB_AIRCR_SYSRESETREQ (0x05FAu << 16 | 1u << 2)

/* The instruction counter (counter_tim2.c) stands still while the console waits for input, so
   a count does not depend on when the bytes arrive. */
void pq_stm32f4_counter_pause(void);
void pq_stm32f4_counter_resume(void);

#endif /* PQ_STM32F4_H */
