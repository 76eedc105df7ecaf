import type { Registry } from '../registry/index.ts'
import type { Repo } from '../repo/index.ts'
import { cidForms } from './files/cid-forms.ts'

/**
 * The origin repo's pins that no registry pin names (under any spelling of the CID): content
 * no account is counted or billed for, that no one can remove and GC never collects. A
 * healthy coordinator has none; `pinfold doctor` lists them (issue 9 item 8). Reads pins a
 * page at a time, so it is safe on a large repo; run with the coordinator stopped (the repo
 * is locked by its process).
 */
export async function* unregisteredRepoPins(repo: Repo, registry: Registry): AsyncGenerator<string> {
  for await (const pin of repo.pins.ls()) {
    const forms = cidForms(pin.cid.toString())
    const registered = await Promise.all(forms.map((form) => registry.pins.get(form)))
    if (registered.every((found) => found === undefined)) yield pin.cid.toString()
  }
}
