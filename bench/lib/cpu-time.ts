import { readdirSync, readFileSync } from 'node:fs';
import { readUsage } from './proc.js';

/**
 * CPU seconds used so far by all threads of `pid`, in nanosecond resolution: the sum of each
 * thread's `/proc/PID/task/TID/schedstat` run time. `readUsage` counts clock ticks (10 ms), too
 * coarse for windows of a second at low load; without schedstat (kernel built without
 * CONFIG_SCHED_INFO) this falls back to it.
 */
export function threadCpuSeconds(pid: number): number {
  let nanos = 0;
  let read = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      nanos += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      read += 1;
    } catch {
      // the thread exited meanwhile, or there is no schedstat
    }
  }
  return read === 0 ? readUsage(pid).cpuSeconds : nanos / 1e9;
}
