import { useEffect, useRef, useState } from 'react'
import { api, type EntryView, type SortKey, unwrap } from '../api/client'
import { ErrorText } from '../components/ui'
import { formatBytes, formatDate, LIBRARY_ROOT } from '../lib/format'
import { useLoad } from '../lib/hooks'
import { itemsFromDrop, itemsFromFiles } from '../lib/picked'
import { navigate, useLocation } from '../lib/router'
import { type UploadMode, uploader } from '../lib/uploader'
import { DeleteDialog, MkdirDialog, MoveDialog } from './library/dialogs'
import { DetailsPanel } from './library/DetailsPanel'
import { UploadPanel } from './library/UploadPanel'

const PAGE_SIZES = [25, 50, 100, 500]
const CID_PATTERN = /^(Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{50,}|[fFkzZ][0-9A-Za-z]{40,})$/

type Dialogs = { kind: 'mkdir' } | { kind: 'move'; entry: EntryView } | { kind: 'delete'; entry: EntryView } | null

export function LibraryPage() {
  const { search } = useLocation()
  const path = search.get('path') || LIBRARY_ROOT
  const sort = (search.get('sort') as SortKey | null) ?? 'name'
  const order = search.get('order') === 'desc' ? 'desc' : 'asc'
  const query = search.get('q') ?? ''
  const [limit, setLimit] = useState(50)
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined])
  const cursor = cursors[cursors.length - 1]
  const [selected, setSelected] = useState<EntryView | null>(null)
  const [dialog, setDialog] = useState<Dialogs>(null)
  const [mode, setMode] = useState<UploadMode>('folder')
  const [dragging, setDragging] = useState(false)
  const [searchText, setSearchText] = useState(query)
  const fileInput = useRef<HTMLInputElement>(null)
  const folderInput = useRef<HTMLInputElement>(null)

  // a new place, order or page size starts at the first page
  // biome-ignore lint/correctness/useExhaustiveDependencies: reset on these changes only
  useEffect(() => {
    setCursors([undefined])
    setSelected(null)
    setSearchText(query)
  }, [path, sort, order, limit, query])

  const listing = useLoad(async () => {
    if (query) {
      const byCid = CID_PATTERN.test(query)
      const found = await unwrap(api.GET('/api/v1/search', { params: { query: { ...(byCid ? { cid: query } : { name: query }), limit } } }))
      return { directory: null, items: found.items, nextCursor: found.nextCursor, truncated: found.truncated }
    }
    const page = await unwrap(api.GET('/api/v1/entries/children', { params: { query: { path, sort, order, limit, ...(cursor ? { cursor } : {}) } } }))
    return { ...page, truncated: false }
  }, [path, sort, order, limit, cursor, query])

  // refresh the listing when an upload into this directory (or below it) lands
  useEffect(() => uploader.onLanded((item) => item.targetPath.startsWith(path) && listing.reload()), [path, listing.reload])

  function go(params: Record<string, string | null>) {
    const next = new URLSearchParams(search)
    for (const [key, value] of Object.entries(params)) {
      if (value === null || value === '') next.delete(key)
      else next.set(key, value)
    }
    navigate(`/library?${next.toString()}`)
  }

  function sortBy(key: SortKey) {
    go({ sort: key, order: sort === key && order === 'asc' ? 'desc' : 'asc' })
  }

  function open(entry: EntryView) {
    if (entry.kind === 'directory') go({ path: entry.path, q: null })
    else setSelected(entry)
  }

  async function onDrop(event: React.DragEvent) {
    event.preventDefault()
    setDragging(false)
    const items = await itemsFromDrop(event.dataTransfer)
    if (items.length > 0) uploader.add(items, path, mode)
  }

  function onPicked(event: React.ChangeEvent<HTMLInputElement>) {
    const files = event.target.files
    if (files && files.length > 0) uploader.add(itemsFromFiles(Array.from(files)), path, mode)
    event.target.value = ''
  }

  const crumbs = breadcrumbs(path)
  const items = listing.data?.items ?? []

  return (
    <div className="library">
      <section
        className={`browser${dragging ? ' dragging' : ''}`}
        aria-labelledby="library-title"
        onDragOver={(event) => {
          if (!query && event.dataTransfer.types.includes('Files')) {
            event.preventDefault()
            setDragging(true)
          }
        }}
        onDragLeave={(event) => {
          if (!event.currentTarget.contains(event.relatedTarget as Node | null)) setDragging(false)
        }}
        onDrop={onDrop}
        data-testid="dropzone"
      >
        <h1 id="library-title" className="visually-hidden">
          Library
        </h1>
        <nav aria-label="Breadcrumbs" className="breadcrumbs">
          <ol>
            {crumbs.map((crumb, i) => (
              <li key={crumb.path}>
                {i === crumbs.length - 1 && !query ? (
                  <span aria-current="location">{crumb.name}</span>
                ) : (
                  <a
                    href={`/library?path=${encodeURIComponent(crumb.path)}`}
                    onClick={(event) => {
                      event.preventDefault()
                      go({ path: crumb.path, q: null })
                    }}
                  >
                    {crumb.name}
                  </a>
                )}
              </li>
            ))}
          </ol>
        </nav>

        <div className="toolbar">
          <form
            role="search"
            className="search"
            onSubmit={(event) => {
              event.preventDefault()
              go({ q: searchText.trim() || null })
            }}
          >
            <label htmlFor="search" className="visually-hidden">
              Search by name or CID
            </label>
            <input id="search" type="search" placeholder="Search by name or CID" value={searchText} onChange={(e) => setSearchText(e.target.value)} />
            <button type="submit" className="secondary">
              Search
            </button>
            {query && (
              <button type="button" className="secondary" onClick={() => go({ q: null })}>
                Clear search
              </button>
            )}
          </form>
          <div className="actions">
            <button type="button" className="secondary" onClick={() => setDialog({ kind: 'mkdir' })} disabled={Boolean(query)}>
              New directory
            </button>
            <button type="button" onClick={() => fileInput.current?.click()} disabled={Boolean(query)}>
              Upload files
            </button>
            <button type="button" onClick={() => folderInput.current?.click()} disabled={Boolean(query)}>
              Upload folder
            </button>
            <input ref={fileInput} type="file" multiple hidden onChange={onPicked} data-testid="file-input" />
            <input
              ref={folderInput}
              type="file"
              hidden
              onChange={onPicked}
              data-testid="folder-input"
              {...({ webkitdirectory: '', directory: '' } as Record<string, string>)}
            />
          </div>
        </div>
        <fieldset className="mode">
          <legend>Folders are uploaded</legend>
          <label>
            <input type="radio" name="mode" checked={mode === 'folder'} onChange={() => setMode('folder')} /> as one unit (one CID, unchangeable)
          </label>
          <label>
            <input type="radio" name="mode" checked={mode === 'files'} onChange={() => setMode('files')} /> as files into a directory (a CID each)
          </label>
        </fieldset>
        <p className="hint">{dragging ? 'Drop to upload here' : `Drop files or folders here to upload them into ${path}.`}</p>

        {query && (
          <p role="status">
            Search results for “{query}”{listing.data?.truncated ? ' (more matches than shown: refine the search)' : ''}
          </p>
        )}
        <ErrorText error={listing.error} />
        <div className="table-wrap">
          <table className="entries" aria-busy={listing.loading}>
            <caption className="visually-hidden">{query ? 'Search results' : `Contents of ${path}`}</caption>
            <thead>
              <tr>
                <SortHeader label="Name" sortKey="name" sort={sort} order={order} onSort={sortBy} disabled={Boolean(query)} />
                <th scope="col" className="hide-narrow">
                  Kind
                </th>
                <SortHeader label="Size" sortKey="size" sort={sort} order={order} onSort={sortBy} disabled={Boolean(query)} />
                <SortHeader label="Modified" sortKey="mtime" sort={sort} order={order} onSort={sortBy} disabled={Boolean(query)} className="hide-narrow" />
                <SortHeader label="Created" sortKey="created" sort={sort} order={order} onSort={sortBy} disabled={Boolean(query)} className="hide-narrow" />
              </tr>
            </thead>
            <tbody>
              {items.length === 0 && !listing.loading && (
                <tr>
                  <td colSpan={5} className="empty">
                    {query ? 'Nothing found.' : 'This directory is empty. Upload files or drop a folder here.'}
                  </td>
                </tr>
              )}
              {items.map((entry) => (
                <tr key={entry.id} aria-selected={selected?.id === entry.id} className={selected?.id === entry.id ? 'selected' : undefined}>
                  <td>
                    <button type="button" className="link" onClick={() => open(entry)} aria-label={`${entry.kind === 'directory' ? 'Open' : 'Details of'} ${entry.name}`}>
                      <span className={`icon icon-${entry.kind}`} aria-hidden="true" />
                      {query ? entry.path.replace(`${LIBRARY_ROOT}/`, '') : entry.name}
                    </button>
                    {entry.kind === 'directory' && (
                      <button type="button" className="link small details-link" onClick={() => setSelected(entry)} aria-label={`Details of ${entry.name}`}>
                        details
                      </button>
                    )}
                  </td>
                  <td className="hide-narrow">{entry.kind}</td>
                  <td className="num">{entry.kind === 'directory' ? '—' : formatBytes(entry.size)}</td>
                  <td className="hide-narrow">{formatDate(entry.mtime)}</td>
                  <td className="hide-narrow">{formatDate(entry.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div className="pager">
          <label>
            Per page{' '}
            <select value={limit} onChange={(e) => setLimit(Number(e.target.value))}>
              {PAGE_SIZES.map((size) => (
                <option key={size} value={size}>
                  {size}
                </option>
              ))}
            </select>
          </label>
          <span>Page {cursors.length}</span>
          <button type="button" className="secondary" disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
            Previous
          </button>
          <button
            type="button"
            className="secondary"
            disabled={!listing.data?.nextCursor || Boolean(query)}
            onClick={() => setCursors((c) => [...c, listing.data?.nextCursor ?? undefined])}
          >
            Next
          </button>
        </div>
      </section>

      <DetailsPanel
        entry={selected}
        onClose={() => setSelected(null)}
        onMove={(entry) => setDialog({ kind: 'move', entry })}
        onDelete={(entry) => setDialog({ kind: 'delete', entry })}
      />
      <UploadPanel />

      <MkdirDialog
        open={dialog?.kind === 'mkdir'}
        parent={path}
        onClose={() => setDialog(null)}
        onDone={() => {
          setDialog(null)
          listing.reload()
        }}
      />
      {dialog?.kind === 'move' && (
        <MoveDialog
          entry={dialog.entry}
          onClose={() => setDialog(null)}
          onDone={(moved) => {
            setDialog(null)
            setSelected(moved)
            listing.reload()
          }}
        />
      )}
      {dialog?.kind === 'delete' && (
        <DeleteDialog
          entry={dialog.entry}
          onClose={(deleted) => {
            setDialog(null)
            if (deleted) {
              setSelected(null)
              listing.reload()
            }
          }}
        />
      )}
    </div>
  )
}

function SortHeader(props: {
  label: string
  sortKey: SortKey
  sort: SortKey
  order: 'asc' | 'desc'
  onSort: (key: SortKey) => void
  disabled: boolean
  className?: string
}) {
  const active = props.sort === props.sortKey && !props.disabled
  return (
    <th scope="col" className={props.className} aria-sort={active ? (props.order === 'asc' ? 'ascending' : 'descending') : undefined}>
      <button type="button" className="sort" onClick={() => props.onSort(props.sortKey)} disabled={props.disabled}>
        {props.label}
        <span aria-hidden="true">{active ? (props.order === 'asc' ? ' ▲' : ' ▼') : ''}</span>
      </button>
    </th>
  )
}

function breadcrumbs(path: string): { name: string; path: string }[] {
  const parts = path.split('/').filter(Boolean)
  return parts.map((name, i) => ({ name, path: `/${parts.slice(0, i + 1).join('/')}` }))
}
