// The stock client's packages, for scripts outside this folder (scripts/bench/
// collab-ywebsocket.mjs): ES modules resolve bare names from the importing file's folder
// (NODE_PATH is for require only), so they import this file by path and get the very yjs
// instance y-websocket uses.
export * as Y from 'yjs'
export { WebsocketProvider } from 'y-websocket'
export { default as WebSocket } from 'ws'
