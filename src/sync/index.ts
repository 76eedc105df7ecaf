/**
 * Anti-entropy between a storage node's held pins and its desired pins (the coordinator's
 * allocations) by range-based set reconciliation (Meyer; the Negentropy wire design), pure:
 * no I/O, messages are byte arrays the caller carries. Bytes exchanged grow with the number
 * of differences (≈ log_B(n) levels × differences × B fingerprints), not with the set size,
 * and deletes are found as well as additions.
 *
 * Wire format (every message; varints are unsigned LEB128):
 * ```
 * message     = header range*          header: 0xA1 initiator→responder, 0xA2 responder→initiator
 * range       = upper-bound mode payload
 * upper-bound = len(1 byte, 0 = +∞, 1..32) prefix-bytes   (lower bound = previous upper, first = min)
 * mode        = 0 Skip | 1 Fingerprint fp[16] | 2 IdList varint(k) id[32]×k          (→ responder)
 *             | 3 ItemList varint(k) (varint(len) cid)×k                               (→ initiator)
 *             | 4 Diff varint(k) (varint(len) cid)×k varint(m) id[32]×m                 (→ initiator)
 * ```
 * Ranges are contiguous and increasing; anything after the last range is Skip. Bounds are the
 * shortest prefix separating two neighbouring ids. A fingerprint is SHA-256(Σ ids mod 2^256 ‖
 * varint count)[0..16). The initiator finishes when it has nothing left to ask.
 */
export { InvalidSyncMessageError, tryPinId, ID_BYTES, MAX_CID_BYTES } from './pin-id.ts'
export { PinSet, PinSnapshot, EMPTY_FINGERPRINT, FINGERPRINT_BYTES } from './pin-set.ts'
export type { Bound } from './pin-set.ts'
export { SyncInitiator, SyncResponder } from './reconcile.ts'
export type { ReconcileOptions, ReconcileResult } from './reconcile.ts'
