import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

// The portal is served by the coordinator at `/`; in development, `npm run dev` proxies the
// API to a coordinator on 127.0.0.1:8080 (override with PINFOLD_URL).
const target = process.env.PINFOLD_URL ?? 'http://127.0.0.1:8080'

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, assetsInlineLimit: 0 },
  server: { proxy: { '/api': target, '/ipfs': target } },
})
