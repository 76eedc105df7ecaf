import Type from 'typebox'

/** `{"error":{"code","message"}}`, the one error shape of the API. */
export const ErrorResponse = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }),
})

/** Opaque identifiers (entries, keys, uploads, accounts). */
export const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })

export const IdParams = Type.Object({ id: Id })

export const Timestamp = Type.String({ format: 'date-time' })

/** Milliseconds since the epoch (as stored) to RFC 3339, keeping null as null. */
export function isoTime(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString()
}
