/**
 * The JSON Schema of a fleet manifest (docs/fleet.md, "Manifest reference"), as the YAML file
 * spells it (kebab-case keys, sizes and durations as text). `parseManifest` validates with it
 * (ajv) before it reads a single value; docs/mirrors.schema.json is this object, for editors
 * and CI checks (a test keeps the two equal).
 */

const ENV_NAME = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' } as const;
const DURATION = { type: ['string', 'number'] } as const;
const SIZE = { type: ['string', 'integer'] } as const;
const NAMES = { type: 'array', items: { type: 'string', minLength: 1 } } as const;

/** Options a mirror may set, and `defaults` may set for every mirror. */
const MIRROR_OPTIONS = {
  mode: { enum: ['sync', 'replicate'] },
  schedule: { type: 'string', minLength: 1 },
  timeout: DURATION,
  'idle-timeout': DURATION,
  retries: { type: 'integer', minimum: 0 },
  protocol: { enum: ['auto', 'v1', 'v2'] },
  branches: NAMES,
  map: NAMES,
  tags: { type: 'boolean' },
  'all-refs': { type: 'boolean' },
  'exclude-ref-prefix': NAMES,
  prune: { type: 'boolean' },
  'max-deletes': { type: 'integer', minimum: 0 },
  'allow-empty-source': { type: 'boolean' },
  force: { enum: ['none', 'with-lease', 'blind'] },
  'target-max-pack-bytes': SIZE,
  'max-pack-bytes': SIZE,
  'max-ref-listing-bytes': SIZE,
  'target-max-ref-updates': { type: 'integer', minimum: 1 },
  atomic: { type: 'boolean' },
  'bootstrap-strategy': { enum: ['first-parent', 'topo'] },
  'source-token-env': ENV_NAME,
  'source-bearer-token-env': ENV_NAME,
  'source-username': { type: 'string', minLength: 1 },
  'target-token-env': ENV_NAME,
  'target-bearer-token-env': ENV_NAME,
  'target-username': { type: 'string', minLength: 1 },
  'credential-helper': { type: 'boolean' },
  'allowed-protocols': NAMES,
} as const;

const TARGET_OBJECT = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: {
    url: { type: 'string', minLength: 1 },
    'token-env': ENV_NAME,
    'bearer-token-env': ENV_NAME,
    username: { type: 'string', minLength: 1 },
  },
} as const;

export const MANIFEST_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'git-sync fleet manifest',
  type: 'object',
  additionalProperties: false,
  required: ['mirrors'],
  properties: {
    version: { const: 1 },
    concurrency: { type: 'integer', minimum: 1 },
    'per-host-concurrency': { type: 'integer', minimum: 1 },
    defaults: { type: 'object', additionalProperties: false, properties: MIRROR_OPTIONS },
    state: {
      type: 'object',
      additionalProperties: false,
      properties: {
        path: { type: 'string', minLength: 1 },
        'retain-runs': { type: ['integer', 'null'], minimum: 1 },
        'retain-days': { type: ['number', 'null'], exclusiveMinimum: 0 },
      },
    },
    serve: {
      type: 'object',
      additionalProperties: false,
      properties: {
        listen: { type: 'string', minLength: 1 },
        'page-token-env': ENV_NAME,
        'page-refresh': DURATION,
        hooks: {
          type: 'object',
          additionalProperties: false,
          properties: {
            'github-secret-env': ENV_NAME,
            'gitlab-token-env': ENV_NAME,
            'generic-token-env': ENV_NAME,
          },
        },
      },
    },
    mirrors: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['source'],
        properties: {
          id: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]*$', maxLength: 128 },
          source: { type: 'string', minLength: 1 },
          target: { type: 'string', minLength: 1 },
          targets: { type: 'array', minItems: 1, items: { anyOf: [{ type: 'string', minLength: 1 }, TARGET_OBJECT] } },
          ...MIRROR_OPTIONS,
        },
      },
    },
  },
} as const;
