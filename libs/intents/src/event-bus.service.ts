import { DependencyUnavailableError } from '@axle/protocol';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Redis } from 'ioredis';

export const REDIS_URL = Symbol('REDIS_URL');

type Listener = () => void;

/**
 * Cross-process wake-ups over Redis pub/sub: writers publish "something new on channel X", open
 * streams on every gateway replica re-read PostgreSQL. One subscriber connection per process.
 */
@Injectable()
export class EventBus implements OnModuleDestroy {
  private readonly publisher: Redis;
  private subscriber: Redis | null = null;
  private readonly listeners = new Map<string, { listeners: Set<Listener>; subscribed: Promise<unknown> }>();

  constructor(@Inject(REDIS_URL) private readonly url: string) {
    this.publisher = connect(url, false);
  }

  async publish(channel: string): Promise<void> {
    try {
      await this.publisher.publish(channel, '1');
    } catch {
      // A lost notice only delays streams until their next poll; the event itself is in Postgres.
    }
  }

  /** Listens on a channel; the promise resolves once Redis confirmed the subscription. */
  async listen(channel: string, listener: Listener): Promise<() => void> {
    const subscriber = this.ensureSubscriber();
    let entry = this.listeners.get(channel);
    if (!entry) {
      // Later listeners await the same confirmation, so none reads before Redis is subscribed.
      entry = { listeners: new Set(), subscribed: withTimeout(subscriber.subscribe(channel), 3_000) };
      this.listeners.set(channel, entry);
    }
    try {
      await entry.subscribed;
    } catch {
      if (this.listeners.get(channel) === entry) this.listeners.delete(channel);
      throw new DependencyUnavailableError('redis');
    }
    const set = entry.listeners;
    set.add(listener);
    return () => {
      const current = this.listeners.get(channel);
      if (current !== entry) return;
      set.delete(listener);
      if (set.size === 0) {
        this.listeners.delete(channel);
        subscriber.unsubscribe(channel).catch(() => undefined);
      }
    };
  }

  async ping(): Promise<void> {
    await this.publisher.ping();
  }

  onModuleDestroy(): void {
    this.publisher.disconnect();
    this.subscriber?.disconnect();
  }

  private ensureSubscriber(): Redis {
    if (!this.subscriber) {
      this.subscriber = connect(this.url, true);
      this.subscriber.on('message', (channel: string) =>
        this.listeners.get(channel)?.listeners.forEach((listener) => listener()),
      );
    }
    return this.subscriber;
  }
}

function connect(url: string, offlineQueue: boolean): Redis {
  // Fail commands fast while Redis is down (callers answer 503) and keep reconnecting in the background.
  const redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: offlineQueue });
  redis.on('error', () => undefined);
  return redis;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)),
  );
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
