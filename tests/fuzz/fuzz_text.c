/* libFuzzer target: the text Orchfile front-end and the pipeline behind it
 * (fuzz_common.h). Seeds: corpus/text; past crashes: regressions/text. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_pipeline("fuzz.orch", data, size);
    return 0;
}
