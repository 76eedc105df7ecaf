/** A file to upload with its path relative to what was picked or dropped (`photos/a/b.jpg`). */
export interface PickedFile {
  file: File
  relativePath: string
}

/** One top-level thing the user chose: a single file, or a folder with everything inside. */
export interface PickedItem {
  name: string
  kind: 'file' | 'folder'
  files: PickedFile[]
}

/** Groups files (from an `<input webkitdirectory>` or plain multi-select) by their top-level name. */
export function itemsFromFiles(files: Iterable<File>): PickedItem[] {
  const items = new Map<string, PickedItem>()
  for (const file of files) {
    const relativePath = file.webkitRelativePath || file.name
    const slash = relativePath.indexOf('/')
    if (slash < 0) {
      items.set(`file:${relativePath}:${items.size}`, { name: relativePath, kind: 'file', files: [{ file, relativePath }] })
      continue
    }
    const top = relativePath.slice(0, slash)
    let item = items.get(`dir:${top}`)
    if (!item) {
      item = { name: top, kind: 'folder', files: [] }
      items.set(`dir:${top}`, item)
    }
    item.files.push({ file, relativePath })
  }
  return [...items.values()]
}

/**
 * What was dropped: folders are walked through the File and Directory Entries API
 * (`DataTransferItem.webkitGetAsEntry`), so a dropped folder keeps its structure. Items the
 * browser gives no entry for fall back to their File (and its webkitRelativePath, if any).
 */
export async function itemsFromDrop(transfer: DataTransfer): Promise<PickedItem[]> {
  const entries: FileSystemEntry[] = []
  const loose: File[] = []
  // entries must be taken synchronously, before the first await: the list is emptied after the event
  for (const item of Array.from(transfer.items)) {
    if (item.kind !== 'file') continue
    const entry = typeof item.webkitGetAsEntry === 'function' ? item.webkitGetAsEntry() : null
    if (entry) entries.push(entry)
    else {
      const file = item.getAsFile()
      if (file) loose.push(file)
    }
  }
  if (entries.length === 0 && loose.length === 0) loose.push(...Array.from(transfer.files))
  const items: PickedItem[] = []
  const fromEntries: File[] = []
  for (const entry of entries) {
    if (entry.isDirectory) {
      const files: PickedFile[] = []
      await walk(entry as FileSystemDirectoryEntry, entry.name, files)
      items.push({ name: entry.name, kind: 'folder', files })
    } else {
      fromEntries.push(await fileOf(entry as FileSystemFileEntry))
    }
  }
  return [...items, ...itemsFromFiles([...fromEntries, ...loose])]
}

async function walk(directory: FileSystemDirectoryEntry, prefix: string, out: PickedFile[]): Promise<void> {
  const reader = directory.createReader()
  for (;;) {
    // readEntries answers in batches (100 in Chromium) until an empty one
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject))
    if (batch.length === 0) return
    for (const entry of batch) {
      const path = `${prefix}/${entry.name}`
      if (entry.isDirectory) await walk(entry as FileSystemDirectoryEntry, path, out)
      else out.push({ file: await fileOf(entry as FileSystemFileEntry), relativePath: path })
    }
  }
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject))
}
