import { describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { conform } from "@/lib/errors";
import { errorResponse, respond } from "@/lib/http/response";

const schema = z.object({ id: z.string(), count: z.number().int() });

describe("answers conformed to their schema (lib/http/response.ts)", () => {
  it("sends what the schema documents and nothing beyond it", async () => {
    const response = respond(schema, { id: "a", count: 2, secret: "never sent" } as z.input<typeof schema>, { status: 201 });
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ id: "a", count: 2 });
  });

  it("treats an answer that does not match as our bug: a 500 with no detail, never the caller's 400", async () => {
    let thrown: unknown;
    try {
      conform(schema, { id: "a", count: "2" } as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect(thrown).not.toBeInstanceOf(z.ZodError);
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const response = errorResponse(thrown, "req_test");
    log.mockRestore();
    expect(response.status).toBe(500);
    expect((await response.json()).error).toMatchObject({ code: "internal_error", request_id: "req_test" });
  });

  it("answers a handler's input ZodError as 400 validation_failed with the fields", async () => {
    const result = schema.safeParse({ id: 1 });
    const response = errorResponse(result.error, "req_test");
    expect(response.status).toBe(400);
    const body = await response.json();
    expect(body.error.code).toBe("validation_failed");
    expect(Object.keys(body.error.fields).sort()).toEqual(["count", "id"]);
  });
});
