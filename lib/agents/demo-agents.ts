import type { Keypair } from "@solana/web3.js";
import { z } from "zod";
import type { AgentType } from "./protocol";

/**
 * The embedded default's demo agents, served by the local marketplace: a key-value memory agent
 * isolated by the caller's wallet (like WarmMemory) and two cheap text agents at other prices.
 */
export interface AgentContext {
  callerWallet: string;
}

export interface LocalAgentDefinition {
  id: string;
  name: string;
  description: string;
  /** In the token's base units: micro-USD for USDC (the default), lamports for a SOL-priced agent. */
  priceMicro: bigint;
  token?: "USDC" | "SOL";
  feeBps: number;
  /** How long the marketplace lets it run (tetto-sdk: simple 20 s, complex 120 s, coordinator 180 s). Default simple. */
  agentType?: AgentType;
  /** The catalog status; anything but "active" must never be paid. Default active. */
  status?: string;
  /** List the optional fields (description, schemas, fee_bps, agent_type, endpoint) as null, as some real entries are. */
  nullOptionalFields?: boolean;
  /** The owner's wallet, when a test needs to act as the agent's owner; otherwise a fresh one. */
  owner?: Keypair;
  inputSchema: z.ZodType;
  outputSchema: z.ZodType;
  /** Throws to fail (after payment: the marketplace reports the agent's error). */
  handle(input: unknown, context: AgentContext): Promise<unknown>;
}

const memoryInputSchema = z.discriminatedUnion("action", [
  z.object({ action: z.literal("store"), key: z.string().min(1).max(256), value: z.string().max(65_536) }).strict(),
  z.object({ action: z.literal("get"), key: z.string().min(1).max(256) }).strict(),
  z.object({ action: z.literal("delete"), key: z.string().min(1).max(256) }).strict(),
  z.object({ action: z.literal("list") }).strict(),
]);

/** One namespace per caller wallet: two API keys never see each other's memory. */
export function createMemoryAgent(store: Map<string, Map<string, string>> = new Map()): LocalAgentDefinition {
  return {
    id: "9f0c6a52-5d1e-4c3b-8a7e-2b6f1d0e4a11",
    name: "warmmemory",
    description: "Key-value memory per caller: store, get, list and delete string values.",
    priceMicro: 1_000n,
    feeBps: 1_000,
    inputSchema: memoryInputSchema,
    outputSchema: z.record(z.string(), z.unknown()),
    async handle(raw, { callerWallet }) {
      const input = memoryInputSchema.parse(raw);
      let space = store.get(callerWallet);
      if (!space) store.set(callerWallet, (space = new Map()));
      switch (input.action) {
        case "store":
          space.set(input.key, input.value);
          return { stored: true, key: input.key };
        case "get":
          return space.has(input.key) ? { found: true, key: input.key, value: space.get(input.key) } : { found: false, key: input.key };
        case "delete":
          return { deleted: space.delete(input.key), key: input.key };
        case "list":
          return { keys: [...space.keys()].sort() };
      }
    },
  };
}

const textInputSchema = z.object({ text: z.string().min(1).max(20_000) }).strict();

export function createTextStatsAgent(): LocalAgentDefinition {
  return {
    id: "3b8e1f27-6c4a-4d09-b5e2-7a1c9d3f5e22",
    name: "textstats",
    description: "Counts words, characters and sentences and lists the most frequent words.",
    priceMicro: 2_000n,
    feeBps: 1_000,
    inputSchema: textInputSchema,
    outputSchema: z.object({ words: z.number(), characters: z.number(), sentences: z.number(), top_words: z.array(z.string()) }),
    async handle(raw) {
      const { text } = textInputSchema.parse(raw);
      const words = text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
      const counts = new Map<string, number>();
      for (const word of words) counts.set(word, (counts.get(word) ?? 0) + 1);
      const top = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 5);
      return {
        words: words.length,
        characters: [...text].length,
        sentences: (text.match(/[.!?]+(\s|$)/g) ?? []).length || 1,
        top_words: top.map(([word]) => word),
      };
    },
  };
}

const POSITIVE = new Set(["good", "great", "excellent", "love", "happy", "fast", "nice", "wonderful", "best", "easy"]);
const NEGATIVE = new Set(["bad", "terrible", "awful", "hate", "sad", "slow", "broken", "worst", "hard", "poor"]);

export function createSentimentAgent(): LocalAgentDefinition {
  return {
    id: "c42d7b90-1e5f-4a86-9d3b-5f8e2c6a7b33",
    name: "sentiment",
    description: "Scores a text from -1 (negative) to 1 (positive) with a small lexicon.",
    priceMicro: 5_000n,
    feeBps: 1_000,
    inputSchema: textInputSchema,
    outputSchema: z.object({ label: z.enum(["positive", "negative", "neutral"]), score: z.number() }),
    async handle(raw) {
      const { text } = textInputSchema.parse(raw);
      const words = text.toLowerCase().match(/[\p{L}']+/gu) ?? [];
      const positive = words.filter((word) => POSITIVE.has(word)).length;
      const negative = words.filter((word) => NEGATIVE.has(word)).length;
      const score = positive + negative === 0 ? 0 : Math.round(((positive - negative) / (positive + negative)) * 100) / 100;
      return { label: score > 0 ? "positive" : score < 0 ? "negative" : "neutral", score };
    },
  };
}

/** Answers its input back. Listed with its optional fields null, as some real catalog entries are. */
export function createEchoAgent(): LocalAgentDefinition {
  return {
    id: "5d2a9c14-8b3e-4f61-a7d0-1c9e6b4f2a44",
    name: "echo",
    description: "Answers its input back (listed with null optional fields).",
    priceMicro: 1_000n,
    feeBps: 1_000,
    nullOptionalFields: true,
    inputSchema: z.record(z.string(), z.unknown()),
    outputSchema: z.object({ echo: z.unknown() }),
    async handle(input) {
      return { echo: input };
    },
  };
}

/** Priced in SOL: listed by the marketplace, never callable through this USDC gateway. */
export function createSolPricedAgent(): LocalAgentDefinition {
  return {
    id: "e7f3b1a9-2c6d-4e85-9b04-3a8d5c1f6e55",
    name: "solquote",
    description: "A SOL-priced agent (0.05 SOL a call): shown, not callable here.",
    priceMicro: 50_000_000n, // lamports
    token: "SOL",
    feeBps: 1_000,
    inputSchema: z.record(z.string(), z.unknown()),
    outputSchema: z.record(z.string(), z.unknown()),
    async handle() {
      return { quote: "never reached through the gateway" };
    },
  };
}

export function demoAgents(): LocalAgentDefinition[] {
  return [createMemoryAgent(), createTextStatsAgent(), createSentimentAgent(), createEchoAgent(), createSolPricedAgent()];
}
