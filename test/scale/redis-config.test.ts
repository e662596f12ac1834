import { describe, expect, test } from 'vitest';
import { CONFIG_FIELDS, ConfigError, loadConfig, maskUrl } from '../../src/config/config.ts';

describe('WHARF_REDIS_URL', () => {
  test('default none; redis:// and rediss:// accepted', () => {
    expect(loadConfig({}).redisUrl).toBe('');
    expect(loadConfig({ WHARF_REDIS_URL: 'redis://:s3cret@10.0.0.5:6380/2' }).redisUrl).toBe('redis://:s3cret@10.0.0.5:6380/2');
    expect(loadConfig({ WHARF_REDIS_URL: 'rediss://user:pw@redis.example.com' }).redisUrl).toBe('rediss://user:pw@redis.example.com');
  });

  test('anything else is refused, without printing the password', () => {
    expect(() => loadConfig({ WHARF_REDIS_URL: 'http://u:topsecret@host:6379' })).toThrow(ConfigError);
    try {
      loadConfig({ WHARF_REDIS_URL: 'http://u:topsecret@host:6379' });
    } catch (e) {
      expect((e as Error).message).toContain('WHARF_REDIS_URL');
      expect((e as Error).message).not.toContain('topsecret');
    }
    expect(() => loadConfig({ WHARF_REDIS_URL: 'localhost:6379' })).toThrow(ConfigError);
  });

  test('secret in `wharf config` output; masked in logs', () => {
    expect(CONFIG_FIELDS.find((f) => f.key === 'redisUrl')?.secret).toBe(true);
    expect(maskUrl('redis://:s3cret@h:1/0')).toBe('redis://:***@h:1/0');
    expect(maskUrl('rediss://user:pw@h')).toBe('rediss://user:***@h');
    expect(maskUrl('redis://h:6379')).toBe('redis://h:6379');
  });
});
