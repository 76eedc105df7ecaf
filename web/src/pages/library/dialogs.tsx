import { useState } from 'react'
import { api, type DeleteResult, type EntryView, errorMessage, unwrap } from '../../api/client'
import { Dialog, ErrorText } from '../../components/ui'
import { parentPath } from '../../lib/format'

export function MkdirDialog({ open, parent, onClose, onDone }: { open: boolean; parent: string; onClose: () => void; onDone: () => void }) {
  const [name, setName] = useState('')
  const [error, setError] = useState<string | null>(null)
  async function submit(event: React.FormEvent) {
    event.preventDefault()
    setError(null)
    try {
      await unwrap(api.POST('/api/v1/directories', { body: { path: `${parent}/${name.trim()}` } }))
      setName('')
      onDone()
    } catch (failure) {
      setError(errorMessage(failure))
    }
  }
  return (
    <Dialog title="New directory" open={open} onClose={onClose}>
      <form onSubmit={submit}>
        <p>
          In <code>{parent}</code>
        </p>
        <label htmlFor="mkdir-name">Name</label>
        <input id="mkdir-name" required maxLength={255} value={name} onChange={(e) => setName(e.target.value)} autoFocus />
        <ErrorText error={error} />
        <div className="dialog-actions">
          <button type="button" className="secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit">Create</button>
        </div>
      </form>
    </Dialog>
  )
}

export function MoveDialog({ entry, onClose, onDone }: { entry: EntryView; onClose: () => void; onDone: (moved: EntryView) => void }) {
  const [name, setName] = useState(entry.name)
  const [parent, setParent] = useState(parentPath(entry.path))
  const [error, setError] = useState<string | null>(null)
  async function submit(event: React.FormEvent) {
    event.preventDefault()
    setError(null)
    const body: { name?: string; parentPath?: string } = {}
    if (name.trim() !== entry.name) body.name = name.trim()
    if (parent.trim() !== parentPath(entry.path)) body.parentPath = parent.trim()
    if (!body.name && !body.parentPath) return onClose()
    try {
      onDone(await unwrap(api.PATCH('/api/v1/entries/{id}', { params: { path: { id: entry.id } }, body })))
    } catch (failure) {
      setError(errorMessage(failure))
    }
  }
  return (
    <Dialog title={`Rename or move ${entry.name}`} open onClose={onClose}>
      <form onSubmit={submit}>
        <label htmlFor="move-name">Name</label>
        <input id="move-name" required value={name} onChange={(e) => setName(e.target.value)} autoFocus />
        <label htmlFor="move-parent">In directory</label>
        <input id="move-parent" required value={parent} onChange={(e) => setParent(e.target.value)} />
        <p className="hint">A directory path such as /Library/photos. It must exist.</p>
        <ErrorText error={error} />
        <div className="dialog-actions">
          <button type="button" className="secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit">Save</button>
        </div>
      </form>
    </Dialog>
  )
}

/**
 * Delete with the honest outcome, for this account: how many entries went, which CIDs it no
 * longer stores and which its other files still hold. A directory needs its name typed.
 */
export function DeleteDialog({ entry, onClose }: { entry: EntryView; onClose: (deleted: boolean) => void }) {
  const [typed, setTyped] = useState('')
  const [onlyThisVersion, setOnlyThisVersion] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const [result, setResult] = useState<DeleteResult | null>(null)
  const isDirectory = entry.kind === 'directory'

  async function submit(event: React.FormEvent) {
    event.preventDefault()
    setBusy(true)
    setError(null)
    try {
      const query = isDirectory ? { recursive: true, confirm: typed } : { onlyThisVersion }
      setResult(await unwrap(api.DELETE('/api/v1/entries/{id}', { params: { path: { id: entry.id }, query } })))
    } catch (failure) {
      setError(errorMessage(failure))
    } finally {
      setBusy(false)
    }
  }

  if (result) {
    return (
      <Dialog title={`Deleted ${entry.name}`} open onClose={() => onClose(true)}>
        <div role="status" data-testid="delete-result">
          <p>
            Removed <strong>{result.removedEntries}</strong> {result.removedEntries === 1 ? 'entry' : 'entries'}.
          </p>
          <p>
            Released <strong>{result.releasedCids.length}</strong> {result.releasedCids.length === 1 ? 'CID' : 'CIDs'} (no longer stored for this
            account, no longer counted).
          </p>
          {result.stillReferenced.length > 0 ? (
            <>
              <p>
                Still held by your other files or pins, so kept: <strong>{result.stillReferenced.length}</strong>
              </p>
              <ul className="cids">
                {result.stillReferenced.map((cid) => (
                  <li key={cid}>
                    <code>{cid}</code>
                  </li>
                ))}
              </ul>
            </>
          ) : (
            <p>Nothing else references the removed content.</p>
          )}
        </div>
        <div className="dialog-actions">
          <button type="button" onClick={() => onClose(true)} autoFocus>
            Close
          </button>
        </div>
      </Dialog>
    )
  }

  return (
    <Dialog title={`Delete ${entry.name}?`} open onClose={() => onClose(false)}>
      <form onSubmit={submit}>
        {isDirectory ? (
          <>
            <p>
              This deletes the directory <code>{entry.path}</code> and <strong>everything in it</strong>. Content nobody else references is released.
            </p>
            <label htmlFor="delete-confirm">
              Type <strong>{entry.name}</strong> to confirm
            </label>
            <input id="delete-confirm" autoComplete="off" value={typed} onChange={(e) => setTyped(e.target.value)} autoFocus />
          </>
        ) : (
          <>
            <p>
              This deletes the {entry.kind} <code>{entry.path}</code>.
            </p>
            <label className="inline">
              <input type="checkbox" checked={onlyThisVersion} onChange={(e) => setOnlyThisVersion(e.target.checked)} /> Only this version (
              {entry.version}), keep older ones
            </label>
          </>
        )}
        <ErrorText error={error} />
        <div className="dialog-actions">
          <button type="button" className="secondary" onClick={() => onClose(false)}>
            Cancel
          </button>
          <button type="submit" className="danger" disabled={busy || (isDirectory && typed !== entry.name)}>
            {busy ? 'Deleting…' : 'Delete'}
          </button>
        </div>
      </form>
    </Dialog>
  )
}
