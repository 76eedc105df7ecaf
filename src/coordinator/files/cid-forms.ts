import { parseCid } from '../../core/index.ts'

/**
 * The spellings under which `cid` may have been registered: as given, its CIDv1 twin and,
 * for dag-pb + sha2-256, its CIDv0 twin. The registry stores CIDs as uploaded, while a
 * client may ask with either form. Throws ERR_INVALID_CID for anything that does not parse.
 */
export function cidForms(cid: string): string[] {
  const parsed = parseCid(cid)
  const forms = new Set([cid, parsed.toV1().toString()])
  if (parsed.code === 0x70 && parsed.multihash.code === 0x12 && parsed.multihash.digest.length === 32) forms.add(parsed.toV0().toString())
  return [...forms]
}
