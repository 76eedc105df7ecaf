export { type ContentSource, type ContentSourceOptions, createContentSource } from './content-source.ts'
