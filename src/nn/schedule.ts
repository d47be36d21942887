// Learning-rate schedule: linear warmup from 0 to the peak, then linear decay to 0
// (transformers' get_linear_schedule_with_warmup, which the K-Adapter code uses).
export function linearWarmupDecay(step: number, peak: number, warmup: number, total: number) {
  if (step < warmup) return (peak * step) / Math.max(1, warmup);
  return peak * Math.max(0, (total - step) / Math.max(1, total - warmup));
}
