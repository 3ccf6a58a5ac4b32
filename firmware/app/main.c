/* kilotrain firmware entry point: bring the board up and serve the serial protocol. */
#include "kt_app.h"
#include "kt_bsp.h"

#ifndef PIO_UNIT_TESTING

/* The decoder holds the receive buffer; a planned static, sized at compile time. */
static kt_frame_decoder kt_rx;

int main(void)
{
    kt_bsp_init();
    kt_app_serve(&kt_rx);
    return 0;
}

#endif
