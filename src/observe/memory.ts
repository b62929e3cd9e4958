/**
 * `--measure-memory`: samples RSS and heap while an operation runs and counts garbage
 * collections through the `gc` performance entries.
 */
import type { PerformanceObserver } from 'node:perf_hooks';
import { lazyPerfHooks, monotonicMillis } from '../builtins.js';

export interface Measurement {
  elapsedMillis: number;
  peakRssBytes: number;
  peakHeapUsedBytes: number;
  gcCount: number;
}

export class MemorySampler {
  private readonly started = monotonicMillis();
  private peakRss = 0;
  private peakHeap = 0;
  private gcCount = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly observer: PerformanceObserver;

  constructor(intervalMillis = 25) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMillis);
    this.timer.unref();
    this.observer = new (lazyPerfHooks().PerformanceObserver)((list) => {
      this.gcCount += list.getEntries().length;
    });
    this.observer.observe({ entryTypes: ['gc'] });
  }

  private sample(): void {
    const usage = process.memoryUsage();
    if (usage.rss > this.peakRss) this.peakRss = usage.rss;
    if (usage.heapUsed > this.peakHeap) this.peakHeap = usage.heapUsed;
  }

  /** Stops sampling. The peak RSS also takes the kernel's high-water mark (ru_maxrss, KiB). */
  stop(): Measurement {
    clearInterval(this.timer);
    this.observer.disconnect();
    return this.peek();
  }

  /** The figures so far, sampling on. */
  peek(): Measurement {
    this.sample();
    const kernelPeak = process.resourceUsage().maxRSS * 1024;
    return {
      elapsedMillis: Math.round(monotonicMillis() - this.started),
      peakRssBytes: Math.max(this.peakRss, kernelPeak),
      peakHeapUsedBytes: this.peakHeap,
      gcCount: this.gcCount,
    };
  }
}
