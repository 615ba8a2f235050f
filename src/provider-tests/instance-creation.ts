/**
 * instance_creation: instances come into existence only through an ack carrying name and version
 * metadata; before that, fetch describes the instance from its Start message.
 */
import { expect } from "bun:test";
import { ProviderError } from "../core/errors.ts";
import type { Provider } from "../provider.ts";
import type { ProviderModule } from "./harness.ts";
import { fetchOrch, startItem, startedEvent } from "./helpers.ts";

/**
 * When the provider has the management capability, checks whether an instance row exists; without
 * it there is no generic way to ask, and the case relies on its fetch assertions alone.
 */
async function expectInstanceExists(p: Provider, instance: string, exists: boolean): Promise<void> {
  const admin = p.asManagementCapability();
  if (admin === null) return;
  expect((await admin.listInstances()).includes(instance)).toBe(exists);
  if (exists) {
    expect((await admin.getInstanceInfo(instance)).instance_id).toBe(instance);
  } else {
    const err = await admin.getInstanceInfo(instance).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ProviderError);
  }
}

export const instanceCreation: ProviderModule = {
  name: "instance_creation",
  cases: [
    {
      name: "a Start for a new instance is fetched with the item's name, execution 1 and empty history; the ack's metadata version (2.0.0) is what later fetches report (test_instance_creation_via_metadata)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "instance-A";
        await p.enqueueForOrchestrator(startItem(id, { version: "1.0.0" }), null);

        const first = await fetchOrch(p, 30_000);
        expect(first.item.instance).toBe(id);
        expect(first.item.orchestration_name).toBe("TestOrch");
        expect(first.item.execution_id).toBe(1);
        expect(first.item.history).toEqual([]);
        // No instance row yet: the version comes from the Start message.
        expect(first.item.version).toBe("1.0.0");

        await p.ackOrchestrationItem(
          first.lockToken,
          1,
          [startedEvent(id, 1, { version: "2.0.0" })],
          [],
          [],
          { orchestration_name: "TestOrch", orchestration_version: "2.0.0" },
          [],
        );

        await p.enqueueForOrchestrator(startItem(id, { version: "1.0.0" }), null);
        const second = await fetchOrch(p, 30_000);
        expect(second.item.instance).toBe(id);
        expect(second.item.orchestration_name).toBe("TestOrch");
        // The instance row (from metadata) wins over the message's version.
        expect(second.item.version).toBe("2.0.0");
        expect(second.item.execution_id).toBe(1);
        expect(second.item.history.map((e) => e.type)).toEqual(["OrchestrationStarted"]);

        await p.ackOrchestrationItem(second.lockToken, 1, [], [], [], {}, []);
      },
    },
    {
      name: "enqueueing a Start does not create the instance, yet the Start is fetchable (test_no_instance_creation_on_enqueue)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "instance-B";
        await p.enqueueForOrchestrator(startItem(id), null);
        await expectInstanceExists(p, id, false);
        expect(await p.read(id)).toEqual([]);

        const f = await p.fetchOrchestrationItem(30_000, 0);
        expect(f).not.toBeNull();
        expect(f!.item.instance).toBe(id);
        expect(f!.item.messages).toEqual([startItem(id)]);
        expect(f!.item.history).toEqual([]);
        await expectInstanceExists(p, id, false);

        await p.ackOrchestrationItem(
          f!.lockToken,
          1,
          [startedEvent(id)],
          [],
          [],
          { orchestration_name: "TestOrch", orchestration_version: "1.0.0" },
          [],
        );
        await expectInstanceExists(p, id, true);
      },
    },
    {
      name: "a Start with a null version is fetchable (version \"unknown\") and the version is later taken from ack metadata (3.0.0) (test_null_version_handling)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "instance-C";
        await p.enqueueForOrchestrator(startItem(id, { version: null }), null);

        const first = await fetchOrch(p, 30_000);
        expect(first.item.instance).toBe(id);
        expect(first.item.orchestration_name).toBe("TestOrch");
        expect(first.item.version).toBe("unknown");

        await p.ackOrchestrationItem(
          first.lockToken,
          1,
          [startedEvent(id, 1, { version: "3.0.0" })],
          [],
          [],
          { orchestration_name: "TestOrch", orchestration_version: "3.0.0" },
          [],
        );

        await p.enqueueForOrchestrator(startItem(id, { version: "1.0.0" }), null);
        const second = await fetchOrch(p, 30_000);
        expect(second.item.instance).toBe(id);
        expect(second.item.version).toBe("3.0.0");
        await p.ackOrchestrationItem(second.lockToken, 1, [], [], [], {}, []);
      },
    },
    {
      name: "a child Start emitted by the parent's ack is fetchable before the child exists; the child's own ack creates it with version 1.5.0 (test_sub_orchestration_instance_creation)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const parent = "parent-instance";
        const child = "parent-instance::child-instance";
        const childStart = startItem(child, { orchestration: "ChildOrch", version: null, parentInstance: parent, parentId: 1 });

        await p.enqueueForOrchestrator(startItem(parent, { orchestration: "ParentOrch" }), null);
        const pf = await fetchOrch(p, 30_000);
        expect(pf.item.instance).toBe(parent);
        await p.ackOrchestrationItem(
          pf.lockToken,
          1,
          [startedEvent(parent, 1, { name: "ParentOrch" })],
          [],
          [childStart],
          { orchestration_name: "ParentOrch", orchestration_version: "1.0.0" },
          [],
        );
        await expectInstanceExists(p, child, false);

        const cf = await fetchOrch(p, 30_000);
        expect(cf.item.instance).toBe(child);
        expect(cf.item.orchestration_name).toBe("ChildOrch");
        expect(cf.item.messages).toEqual([childStart]);
        expect(cf.item.history).toEqual([]);
        await p.ackOrchestrationItem(
          cf.lockToken,
          1,
          [startedEvent(child, 1, { name: "ChildOrch", version: "1.5.0", parentInstance: parent, parentId: 1 })],
          [],
          [],
          { orchestration_name: "ChildOrch", orchestration_version: "1.5.0", parent_instance_id: parent },
          [],
        );
        await expectInstanceExists(p, child, true);

        await p.enqueueForOrchestrator(startItem(child, { orchestration: "ChildOrch", version: null }), null);
        const again = await fetchOrch(p, 30_000);
        expect(again.item.instance).toBe(child);
        expect(again.item.orchestration_name).toBe("ChildOrch");
        expect(again.item.version).toBe("1.5.0");
        expect(again.item.history.map((e) => e.type)).toEqual(["OrchestrationStarted"]);
        await p.ackOrchestrationItem(again.lockToken, 1, [], [], [], {}, []);

        const admin = p.asManagementCapability();
        if (admin !== null) expect(await admin.getParentId(child)).toBe(parent);
      },
    },
  ],
};
