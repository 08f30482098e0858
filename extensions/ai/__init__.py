"""AI operations (DESIGN.md "OpenAI"): ``$summarize`` and ``$triage``, grounded in the record, de-identified, audited.

One module per operation (``summarize``, ``triage``); the pieces they share: ``access`` (what the
caller may see), ``gather`` (compartment search), ``facts`` and ``deidentify`` (what may be sent),
``prompt`` (versioned templates), ``llm`` (the OpenAI client and its errors), ``citations``,
``composition`` (Composition + Provenance), ``offline`` (the template summarizer), ``redflags``,
``reminders`` (medication reminder Communications) and ``persist``.
"""
