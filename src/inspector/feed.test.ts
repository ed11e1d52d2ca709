import { describe, expect, it } from 'vitest';
import { LiveFeed } from './feed.js';
import type { StoreEvent } from './types.js';

describe('LiveFeed', () => {
  it('knows whether anyone listens, and stopping twice counts once', () => {
    const feed = new LiveFeed();
    expect(feed.listened).toBe(false);
    const stopA = feed.listen(() => {});
    const stopB = feed.listen(() => {});
    stopA();
    stopA();
    expect(feed.listened).toBe(true);
    stopB();
    expect(feed.listened).toBe(false);
  });

  it('delivers every event to every listener, including events emitted by a listener', () => {
    const feed = new LiveFeed();
    const a: string[] = [];
    const b: string[] = [];
    feed.listen((event) => {
      a.push(event.type === 'forget' ? event.id : event.type);
      if (event.type === 'forget' && event.id === '1') feed.emit({ type: 'forget', id: '2' });
    });
    feed.listen((event) => b.push(event.type === 'forget' ? event.id : event.type));
    feed.emit({ type: 'forget', id: '1' });
    expect(a).toEqual(['1', '2']);
    expect(b.sort()).toEqual(['1', '2']);
  });

  it('drops events nobody listens to', () => {
    const feed = new LiveFeed();
    feed.emit({ type: 'forget', id: 'early' });
    const heard: StoreEvent[] = [];
    feed.listen((event) => heard.push(event));
    expect(heard).toEqual([]);
  });
});
