#include "cli.h"
int cli_data(int argc, char **argv) { (void)argc; (void)argv; return cli_error("data: not built yet"); }
int cli_spectrogram(int argc, char **argv) { (void)argc; (void)argv; return cli_error("not built yet"); }
int cli_prepare(int argc, char **argv) { (void)argc; (void)argv; return cli_error("not built yet"); }
