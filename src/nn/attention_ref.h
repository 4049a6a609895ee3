/* attention_ref.h: the plain-loop reference of nn_attention_forward/backward
 * (src/nn/attention.c), the oracle the tests hold the SGEMM path to. Same
 * contract as nn.h's, except that the backward needs only 2 T floats of
 * scratch. Internal: not part of nn.h. */
#ifndef SERMO_NN_ATTENTION_REF_H
#define SERMO_NN_ATTENTION_REF_H

void nn_attention_forward_naive(float *out, float *att, const float *qkv, int B, int T, int C,
                                int NH);
void nn_attention_backward_naive(float *dqkv, const float *dout, const float *att,
                                 const float *qkv, float *scratch, int B, int T, int C, int NH);

#endif
