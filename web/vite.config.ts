// The client is served by nginx at `/`, on the same origin as `/api/v1` and `/socket.io/`.
// `npm run dev` proxies both to a running stack (HUBBUB_URL, default http://127.0.0.1:8080).
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const target = process.env.HUBBUB_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", sourcemap: true, chunkSizeWarningLimit: 400 },
  server: {
    proxy: {
      "/api": { target, changeOrigin: false },
      "/socket.io": { target, ws: true },
    },
  },
});
