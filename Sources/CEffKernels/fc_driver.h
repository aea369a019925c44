// The FULLY_CONNECTED entry point of the SIMD tables, written once: per batch row, the row's
// zero-point correction (effk__fc_row_correction, tables.h), then output channels in blocks
// of FC_NR, FC_NBMAX blocks per call of the includer's fc_tile and one call for the rest.
// The includer defines FC_NR, FC_NBMAX (2 or 4), FC_ATTR (the entry point's attributes, may be
// empty), FC_NAME (its name) and, before including, a function or macro
//   fc_tile(p, x, bias_fold, w, scale, corr, out, blk, oc_begin, oc_end, NB)
// computing NB (1..FC_NBMAX, a constant at each call) blocks from block blk for batch row x.
// No include guard: included once per table; it undefines its macros at the end.

FC_ATTR void FC_NAME(const effk_fc_params *p, const int8_t *input, const void *packed,
                     const double *scale, int8_t *output, int32_t oc_begin, int32_t oc_end) {
  if (oc_end <= oc_begin) return;
  const int32_t out_c = p->out_c, ocp = (out_c + FC_NR - 1) / FC_NR * FC_NR;
  const int32_t *bias_fold = (const int32_t *)packed;
  const int8_t *w = (const int8_t *)(bias_fold + ocp);
  const int32_t blk_end = (oc_end + FC_NR - 1) / FC_NR;
  for (int32_t b = 0; b < p->batches; ++b) {
    const int8_t *x = input + (size_t)b * p->in_c;
    const int32_t corr = effk__fc_row_correction(p, x);
    int8_t *out = output + (size_t)b * out_c;
    int32_t blk = oc_begin / FC_NR;
    for (; blk + FC_NBMAX <= blk_end; blk += FC_NBMAX)
      fc_tile(p, x, bias_fold, w, scale, corr, out, blk, oc_begin, oc_end, FC_NBMAX);
    switch (blk_end - blk) {  // fewer than FC_NBMAX blocks left
#if FC_NBMAX > 3
      case 3:
        fc_tile(p, x, bias_fold, w, scale, corr, out, blk, oc_begin, oc_end, 3);
        break;
#endif
#if FC_NBMAX > 2
      case 2:
        fc_tile(p, x, bias_fold, w, scale, corr, out, blk, oc_begin, oc_end, 2);
        break;
#endif
      case 1:
        fc_tile(p, x, bias_fold, w, scale, corr, out, blk, oc_begin, oc_end, 1);
        break;
      default:
        break;
    }
  }
}

#undef FC_NR
#undef FC_NBMAX
#undef FC_ATTR
#undef FC_NAME
