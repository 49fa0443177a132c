/* libFuzzer target: the YAML Orchfile front-end and the pipeline behind it
 * (fuzz_common.h). Seeds: corpus/yaml; past crashes: regressions/yaml. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_pipeline("fuzz.yaml", data, size);
    return 0;
}
