/**
 * `p`, or a rejection with `message` once `ms` have passed (the work behind `p` carries on; only
 * the wait ends). The timer is cleared when `p` settles and never keeps the process alive.
 */
export function deadline<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
    timer.unref();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
