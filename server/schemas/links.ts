import { MAX_KNN_K, pointId } from './index.ts';

/** Link types: lower-case words with digits, `_`, `.` and `-` (`next`, `cites`, `same_doc`). */
export const LINK_TYPE_PATTERN = '^[a-z][a-z0-9_.-]{0,63}$';
const type = { type: 'string', pattern: LINK_TYPE_PATTERN } as const;

export const linkPutBody = {
  type: 'object',
  additionalProperties: false,
  required: ['links'],
  properties: {
    links: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['from', 'to'],
        properties: { from: pointId, to: pointId, type, weight: { type: 'number', exclusiveMinimum: 0, maximum: 1 }, both: { type: 'boolean' } },
      },
    },
  },
} as const;

export const linkDeleteBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    links: {
      type: 'array',
      items: { type: 'object', additionalProperties: false, required: ['from', 'to'], properties: { from: pointId, to: pointId, type } },
    },
    ids: { type: 'array', items: pointId },
  },
} as const;

export const linkListQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    type,
    direction: { enum: ['out', 'in', 'both'] },
    limit: { type: 'integer', minimum: 1, maximum: 1000 },
    cursor: { type: 'string', minLength: 1, maxLength: 1024 },
  },
} as const;

export interface LinkPutRequest {
  links: { from: string | number; to: string | number; type?: string; weight?: number; both?: boolean }[];
}

export interface LinkDeleteRequest {
  links?: { from: string | number; to: string | number; type?: string }[];
  ids?: (string | number)[];
}

export interface LinkListQuery {
  type?: string;
  direction?: 'out' | 'in' | 'both';
  limit?: number;
  cursor?: string;
}

export const neighboursQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { k: { type: 'integer', minimum: 1, maximum: MAX_KNN_K } },
} as const;
