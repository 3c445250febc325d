/** Token vocabulary for the routes; tokens themselves are the broker's (src/broker/tokens.ts). */
export type { Principal, TokenInfo } from "../broker.js";
