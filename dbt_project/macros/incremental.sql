{#-
  Incremental builds by submission (docs/models.md, "Incremental builds").

  The record-level models that a month's data passes through (int_assignments_harmonised,
  int_person_months, int_memberships), the windows and ten marts (below), are built incrementally when
  the monthly build allows it and in full otherwise. Every row that depends on one organisation's month carries the key of
  the submission it came from: (submission_id, hub_key_epoch). A key is current while
  stg_submissions has it accepted (accepted, an agreement in force, not superseded, withheld
  or purged) with that hub key epoch (a rotation re-keys rows in place and moves the epoch). An
  incremental build deletes the rows of keys that are no longer current and inserts the rows
  of current keys the table does not hold; rows that depend on a person across organisations
  (level 'system') are deleted and derived again for every person in a key that came or went.
  Everything else - the project's code and code lists, the governance registry, the agreements
  in force on the build day and the tool versions - is fingerprinted by the build step
  (pipelines/transform/incremental.py),
  which asks for a full build whenever that fingerprint differs from the last successful
  build's; the warehouse is then exactly what a full build makes.

  Incremental builds happen only when the var `incremental_builds` is true, which only the
  Dagster build step passes (with the fingerprinted build day as OWF_AS_OF_DATE). Any other dbt
  build (the tests, a person at the command line) builds these models in full and forgets
  the fingerprint (forget_monthly_build, below).
-#}

{#- incremental_full_refresh(): the models' `full_refresh` config: always (true) unless the
    build allows incremental builds, then dbt's --full-refresh flag decides (none). -#}
{% macro incremental_full_refresh() -%}
    {{- return(none if var('incremental_builds', false) else true) -}}
{%- endmacro %}

{#- current_submission_keys(extract): the keys (submission_id, hub_key_epoch) of the
    submissions of `extract` (of every extract if none: ids are unique across extracts) that
    the models use. -#}
{% macro current_submission_keys(extract) -%}
    select submission_id, hub_key_epoch
    from {{ ref('stg_submissions') }}
    where submission_status = 'accepted'
    {%- if extract is not none %} and extract_type = '{{ extract }}'{% endif %}
{%- endmacro %}

{#- is_current_key(alias, extract): rows of `alias` whose key is current. -#}
{% macro is_current_key(alias, extract) -%}
    exists (
        select 1 from ({{ current_submission_keys(extract) }}) as current_keys
        where current_keys.submission_id = {{ alias }}.submission_id
            and current_keys.hub_key_epoch = {{ alias }}.hub_key_epoch
    )
{%- endmacro %}

{#- is_held_key(alias, relation, where): rows of `alias` whose key `relation` already holds
    (among its rows that match `where`). -#}
{% macro is_held_key(alias, relation, where='true') -%}
    exists (
        select 1
        from (
            select distinct held.submission_id, held.hub_key_epoch
            from {{ relation }} as held
            where {{ where }}
        ) as held_keys
        where held_keys.submission_id = {{ alias }}.submission_id
            and held_keys.hub_key_epoch = {{ alias }}.hub_key_epoch
    )
{%- endmacro %}

{#- in_submissions_not_held(alias, extract, relation): rows of `alias` (of a staging view of
    `extract`; of any, if none) in a current submission whose key `relation` does not hold. The same rows as
    `not is_held_key(alias, relation)`, since a submission's rows carry its key (ingestion
    lands them with it, and a rotation moves both in one transaction), but as a filter on a
    short list of submission ids, which DuckDB applies as it reads the raw table: the view
    then derives only the new rows (int_assignments_harmonised's incremental select: 0.24 ->
    0.03 s on the national month). -#}
{% macro in_submissions_not_held(alias, extract, relation) -%}
    {{ alias }}.submission_id in (
        select submission_id from (
            {{ current_submission_keys(extract) }}
            except
            select distinct held.submission_id, held.hub_key_epoch from {{ relation }} as held
        ) as not_held
    )
{%- endmacro %}

{#- delete_stale_keys(extract, where): pre-hook deleting the rows (those of them matching
    `where`, on alias `stale`) whose key is not current. -#}
{% macro delete_stale_keys(extract, where='true') -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as stale
    where {{ where }} and not {{ is_current_key('stale', extract) }}
    {%- endif -%}
{%- endmacro %}

{#- Pre-hooks of a model with organisation rows (which carry a key) and system rows (level
    'system', which do not), keyed by period_start_date and person_id:
    - delete_moved_people(extract, upstream), first: the system rows of every person in a key
      that went (an organisation row of this table whose key is not current) or came (an
      in-post row of `upstream` whose key this table does not hold);
    - delete_stale_keys(extract, "stale.level = 'organisation' and " ~
      in_changed_periods('stale.period_start_date')), then: the organisation rows of keys
      that went.
    Both after record_changed_periods (below), and both read only the months it recorded: a
    key that came or went is in those months by definition, and a submission's rows are all
    in its own month, so a key's held rows are too. (Reading every month, each model's
    delete_moved_people took 1.0 s of a resubmission's build on six national months.)
    The model then inserts the organisation rows of keys it does not hold and the system rows
    of people in post who have none. -#}
{% macro delete_moved_people(extract, upstream) -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as stale
    where stale.level = 'system'
        and {{ in_changed_periods('stale.period_start_date') }}
        and exists (
            select 1
            from (
                select went.period_start_date, went.person_id
                from {{ this }} as went
                where went.level = 'organisation'
                    and {{ in_changed_periods('went.period_start_date') }}
                    and not {{ is_current_key('went', extract) }}
                union all
                select came.period_start_date, came.person_id
                from {{ upstream }} as came
                where came.is_in_post
                    and {{ in_changed_periods('came.period_start_date') }}
                    and not {{ is_held_key('came', this, held_in_changed_periods()) }}
            ) as moved
            where moved.period_start_date = stale.period_start_date
                and moved.person_id = stale.person_id
        )
    {%- endif -%}
{%- endmacro %}

{#-
  Marts by organisation and month. A mart's organisation rows (level 'organisation') depend on
  one organisation's month, its other rows (system, all organisations) on one month of every
  organisation. meta.model_inputs records, for each such mart, the keys of the submissions
  it was last built from (a post-hook, in the model's own transaction, so a model that fails
  keeps its old record along with its old rows). An incremental build re-derives the
  organisation rows of every organisation and month whose keys differ from the record, and
  the other rows of every month with such a change; the rest stay as they are.
-#}

{#- The table of record: created once per dbt run that builds models (on-run-start), not by
    the models, so that two models' threads never create it at once. -#}
{% macro create_meta_schema() -%}
    {%- if flags.WHICH in ('build', 'run') -%}
    create schema if not exists meta
    {%- endif -%}
{%- endmacro %}

{% macro create_model_inputs() -%}
    {%- if flags.WHICH in ('build', 'run') -%}
    create table if not exists meta.model_inputs (
        model varchar not null,
        extract varchar not null,
        org_code varchar not null,
        period_start_date date not null,
        submission_id varchar not null,
        hub_key_epoch integer not null
    )
    {%- endif -%}
{%- endmacro %}

{#- Any build that is not the monthly build's (no var incremental_builds: every model in
    full, perhaps with other vars, such as another as_of_date) forgets the fingerprint of the
    last monthly build (pipelines/transform/incremental.py), so that the next monthly build
    is a full one rather than one that trusts tables it did not make. -#}
{% macro create_model_builds() -%}
    {%- if flags.WHICH in ('build', 'run') -%}
    create table if not exists meta.model_builds (
        fingerprint varchar not null,
        built_at timestamp not null,
        build_day date
    )
    {%- endif -%}
{%- endmacro %}

{% macro forget_monthly_build() -%}
    {%- if flags.WHICH in ('build', 'run') and not var('incremental_builds', false) -%}
    delete from meta.model_builds
    {%- endif -%}
{%- endmacro %}

{% macro _extract_list(extracts) -%}
    {%- for e in extracts %}'{{ e }}'{{ ', ' if not loop.last }}{% endfor -%}
{%- endmacro %}

{#- changed_org_months(extracts): (org_code, period_start_date) whose current keys of
    `extracts` differ from those this model was last built from. -#}
{% macro changed_org_months(extracts) -%}
    select distinct
        coalesce(now_keys.org_code, then_keys.org_code) as org_code,
        coalesce(now_keys.period_start_date, then_keys.period_start_date) as period_start_date
    from (
        select extract_type as extract, org_code, period_start_date, submission_id, hub_key_epoch
        from {{ ref('stg_submissions') }}
        where submission_status = 'accepted' and extract_type in ({{ _extract_list(extracts) }})
    ) as now_keys
    full outer join (
        select extract, org_code, period_start_date, submission_id, hub_key_epoch
        from meta.model_inputs
        where model = '{{ this.identifier }}'
    ) as then_keys
        on then_keys.extract = now_keys.extract
        and then_keys.submission_id = now_keys.submission_id
        and then_keys.hub_key_epoch = now_keys.hub_key_epoch
    where now_keys.submission_id is null or then_keys.submission_id is null
{%- endmacro %}

{#- in_changed(alias, extracts, level): a filter on the rows of `alias` that an incremental
    build re-derives: at level 'organisation', those of a changed organisation's month; at any
    other level, those of a month with a change. Always true in a full build. -#}
{% macro in_changed(alias, extracts, level) -%}
    {%- if is_incremental() -%}
        {%- if level == 'organisation' -%}
        ({{ alias }}.org_code, {{ alias }}.period_start_date) in (
            select org_code, period_start_date from ({{ changed_org_months(extracts) }}) as changed
        )
        {%- else -%}
        {{ alias }}.period_start_date in (
            select period_start_date from ({{ changed_org_months(extracts) }}) as changed
        )
        {%- endif -%}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- in_changed_rows(alias, extracts): the rows of `alias` (with a level) that an incremental
    build re-derives, at their own level (in_changed). -#}
{% macro in_changed_rows(alias, extracts) -%}
    (({{ alias }}.level = 'organisation' and {{ in_changed(alias, extracts, 'organisation') }})
        or ({{ alias }}.level <> 'organisation' and {{ in_changed(alias, extracts, 'system') }}))
{%- endmacro %}

{#- delete_changed(extracts): pre-hook deleting what in_changed() re-derives. -#}
{% macro delete_changed(extracts) -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as stale
    where {{ in_changed_rows('stale', extracts) }}
    {%- endif -%}
{%- endmacro %}

{#-
  Windows between two censuses (int_membership_windows): a window's rows depend on every
  organisation's month at its end census and at its start census, and on nothing else. An
  incremental build re-derives the windows with a changed month (changed_org_months) at
  either end, but not all of them: a person's rows in a window (at every organisation and at
  the system level) depend only on where that person is at its two censuses and on which
  organisations take part, so a changed organisation's month can change only the rows of the
  people who were in its rows of the window before the build or are in its memberships at
  either census now. Those are the window's people to derive again (record_window_people,
  into meta.window_people); their rows are deleted (delete_changed_windows) and derived again
  from their memberships, and everyone else's rows are kept. A window the table holds no
  rows of once they are deleted (a new month's window, or one whose every person changed) is
  derived whole. A window whose census has gone altogether loses every person (each was in
  the rows of an organisation whose month went) and is not derived again. Re-deriving whole
  windows instead, a resubmission on a hub holding three national months spent 4.6-7.1 s
  on this model (docs/benchmarks.md). The record is meta.model_inputs, as for the marts.
-#}

{#- in_changed_window(end_date, start_date, extracts): a window of these two censuses has a
    changed month at either end. -#}
{% macro in_changed_window(end_date, start_date, extracts) -%}
    ({{ end_date }} in (select period_start_date from ({{ changed_org_months(extracts) }}) as changed)
        or {{ start_date }} in (select period_start_date from ({{ changed_org_months(extracts) }}) as changed))
{%- endmacro %}

{#- drop_build_list(relation): the first pre-hook and the last post-hook of a model that
    lists what its build derives again in a table of its own (meta.window_people, below;
    meta.<model>_periods, further down): the list is the build's own and does not outlive
    it (a purged person's key must not stay in the file). -#}
{% macro drop_build_list(relation) -%}
    {%- if is_incremental() -%}
    drop table if exists {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- record_window_people(extracts, memberships): pre-hook writing meta.window_people, the
    (end_date, window_months, person_id) to derive again in each window the table holds that
    has a changed month at either census: the people in its rows of an organisation changed
    at either census, and those in that organisation's memberships (`memberships`, at
    level 'organisation') at either census. Each census is joined on its own (an `or` in a
    join condition is a nested loop in DuckDB). -#}
{% macro record_window_people(extracts, memberships) -%}
    {%- if is_incremental() -%}
    create table meta.window_people as
    with changed as (

        {{ changed_org_months(extracts) }}

    ),

    held_windows as (

        select
            held.end_date,
            held.window_months,
            cast({{ dbt.dateadd('month', '-held.window_months', 'held.end_date') }} as date) as start_date
        from (select distinct end_date, window_months from {{ this }}) as held

    ),

    changed_orgs as (
        {%- for census in ['end_date', 'start_date'] %}

        select w.end_date, w.window_months, w.start_date, changed.org_code
        from held_windows as w
        inner join changed on changed.period_start_date = w.{{ census }}
        {%- if not loop.last %}
        union
        {%- endif %}
        {%- endfor %}

    )

    select distinct end_date, window_months, person_id
    from (
        select was.end_date, was.window_months, was.person_id
        from {{ this }} as was
        inner join changed_orgs
            on changed_orgs.end_date = was.end_date
            and changed_orgs.window_months = was.window_months
            and changed_orgs.org_code = was.org_code
        where was.level = 'organisation'
        {%- for census in ['end_date', 'start_date'] %}
        union all
        select changed_orgs.end_date, changed_orgs.window_months, members.person_id
        from {{ memberships }} as members
        inner join changed_orgs
            on changed_orgs.{{ census }} = members.period_start_date
            and changed_orgs.org_code = members.org_code
        where members.level = 'organisation'
        {%- endfor %}
    ) as people
    {%- endif -%}
{%- endmacro %}

{#- delete_changed_windows(): pre-hook, after record_window_people, deleting the rows of the
    people it listed, in their window. -#}
{% macro delete_changed_windows() -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as stale
    where exists (
        select 1 from meta.window_people as changed
        where changed.end_date = stale.end_date
            and changed.window_months = stale.window_months
            and changed.person_id = stale.person_id
    )
    {%- endif -%}
{%- endmacro %}

{#- windows_checked_by_the_model(): int_membership_windows checks the uniqueness of what it
    derives in its own transaction (assert_windows_unique, below) rather than by its data
    test: in the monthly build's incremental builds, on DuckDB (the hub's warehouse). -#}
{% macro windows_checked_by_the_model() -%}
    {{- return(checks_new_submissions_only() and target.type == 'duckdb') -}}
{%- endmacro %}

{#- assert_windows_unique(extracts): the model's first post-hook: fails the model, so that
    its transaction (the rows it derived, and its record) is rolled back and the next build
    derives them again, if two rows of what it derived share a key (end_date,
    window_months, level, org_code, staff_group, person_id). What it derived: in each
    changed window, the rows of the people of meta.window_people, or every row of a window
    with nobody listed (derived whole); in a build that made the table, every row. A repeated
    key involves a derived row, and so its person; the rows kept were checked by the build
    that derived them. The model's uniqueness data test read every window (2.0-2.9 s of a
    resubmission's build on three national months, growing by two windows a month), so in
    these builds it reads none (get_where_subquery's `checked_by_the_model`, below). -#}
{% macro assert_windows_unique(extracts) -%}
    {%- if windows_checked_by_the_model() -%}
    select error(
        '{{ this.identifier }}: ' || count(*) || ' keys (end_date, window_months, level, org_code,'
        || ' staff_group, person_id) occur more than once among the rows this build derived, in'
        || ' windows ending from ' || min(end_date) || '. The table and its record are left as'
        || ' they were; report this to the One Workforce developers with the build log.'
    )
    from (
        select derived.end_date
        from {{ this }} as derived
        {%- if is_incremental() %}
        {#- The changed windows listed from the changed months (changed_windows), not each
            row's start census worked out and looked up: 0.82 s on six national months. #}
        where {{ in_changed_windows('derived.end_date', 'derived.window_months', extracts) }}
            and (
                exists (
                    select 1 from meta.window_people as changed
                    where changed.end_date = derived.end_date
                        and changed.window_months = derived.window_months
                        and changed.person_id = derived.person_id
                )
                or not exists (
                    select 1 from meta.window_people as changed
                    where changed.end_date = derived.end_date
                        and changed.window_months = derived.window_months
                )
            )
        {%- endif %}
        group by
            derived.end_date, derived.window_months, derived.level, derived.org_code,
            derived.staff_group, derived.person_id
        having count(*) > 1
    ) as repeated
    having count(*) > 0
    {%- endif -%}
{%- endmacro %}

{#-
  Marts by month (fct_vacancies, fct_temporary_staffing, fct_data_quality): every row of a month, the
  organisations' and the system's, depends on that month's submissions and on nothing else
  that a build can change without a full build. An incremental build derives again every
  month with a changed organisation's month (changed_org_months), all of it, and keeps the
  others; the record is meta.model_inputs, as for the marts above. Rebuilt in full, they read
  every month the warehouse holds, each month.
-#}

{#- delete_changed_months(extracts): pre-hook deleting the rows of every changed month
    (in_changed at a level other than 'organisation'). -#}
{% macro delete_changed_months(extracts) -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as stale
    where {{ in_changed('stale', extracts, 'month') }}
    {%- endif -%}
{%- endmacro %}

{#-
  Marts by window (fct_turnover, fct_flows_between_organisations): every row of
  a window (its end census and its length) depends on the organisations' staff in post at the
  window's two censuses and on nothing else that a build can change without a full build (the
  registry's sectors are in the fingerprint), as int_membership_windows' rows do. An
  incremental build derives again each window with a changed month at either census
  (changed_windows), whole, and keeps the others; the record is meta.model_inputs, as for the
  marts above. A window whose census has gone is deleted and not derived again:
  int_membership_windows no longer holds it. Rebuilt in full, they read every window the
  warehouse holds, two more each month.
-#}

{#- window_lengths(): the windows' lengths in months: one month, and the turnover window. -#}
{% macro window_lengths() -%}
    {{- return([1, var('turnover_window_months')]) -}}
{%- endmacro %}

{#- changed_windows(extracts): (end_date, window_months) of every window, held or not, with a
    changed month (changed_org_months) at its end census or at its start census: a changed
    month ends the windows of every length that end at it, and starts those that end that
    length later. Listed from the changed months, read once, so that finding them reads no
    window. -#}
{% macro changed_windows(extracts) -%}
    select distinct
        cast({{ dbt.dateadd('month', 'shifts.months_to_end', 'changed.period_start_date') }} as date) as end_date,
        shifts.window_months
    from ({{ changed_org_months(extracts) }}) as changed
    cross join (
        {%- for months in window_lengths() %}
        select 0 as months_to_end, {{ months }} as window_months
        union all
        select {{ months }} as months_to_end, {{ months }} as window_months
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}
    ) as shifts
{%- endmacro %}

{#- in_changed_windows(end_date, window_months, extracts): a filter on rows of windows that an
    incremental build derives again (changed_windows). Always true in a full build. -#}
{% macro in_changed_windows(end_date, window_months, extracts) -%}
    {%- if is_incremental() -%}
    ({{ end_date }}, {{ window_months }}) in (
        select end_date, window_months from ({{ changed_windows(extracts) }}) as changed_windows
    )
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}

{#- delete_changed_whole_windows(extracts): pre-hook of a mart by window (its window's end
    census in period_start_date) deleting every row of each window in_changed_windows
    derives again. -#}
{% macro delete_changed_whole_windows(extracts) -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as stale
    where {{ in_changed_windows('stale.period_start_date', 'stale.window_months', extracts) }}
    {%- endif -%}
{%- endmacro %}

{#- forget_inputs(), then record_inputs(extracts): post-hooks recording the keys this build
    used. -#}
{% macro forget_inputs() -%}
    delete from meta.model_inputs where model = '{{ this.identifier }}'
{%- endmacro %}

{% macro record_inputs(extracts) -%}
    insert into meta.model_inputs (model, extract, org_code, period_start_date, submission_id, hub_key_epoch)
    select '{{ this.identifier }}', extract_type, org_code, period_start_date, submission_id, hub_key_epoch
    from {{ ref('stg_submissions') }}
    where submission_status = 'accepted' and extract_type in ({{ _extract_list(extracts) }})
{%- endmacro %}

{#-
  Data tests of a month's submissions in an incremental build. The data tests on the
  staff-in-post and sickness rows (stg_staff_in_post, stg_sickness_absence) check each
  submission's rows on their own: a uniqueness key includes the organisation and the period,
  so two submissions never share a key, and a row's checks read only that row. A submission
  that a mart was built from (its key recorded in meta.model_inputs, above) passed them in
  that build or an earlier one - dbt build runs a model's tests before anything built from it,
  and a failing test leaves the mart, and its record, as they were - and its rows have not
  changed since: a submission's rows never change but by a rotation, which moves its key, and
  whatever else the tests read (the project, the code lists, the registry, the build day)
  forces a full build when it changes. In an incremental build these tests therefore check
  only the rows of submissions not yet recorded; in any other build, every row.

  A test opts in with the `where` config `not_yet_built_by:<mart>`, naming the mart whose
  record stands for "built" (get_where_subquery, below); the person-key guard has its own
  argument, `held_by`, and its own table, int_person_checks (macros/tests/generic_tests.sql).
-#}

{#- checks_new_submissions_only(): this build is the monthly build's, incremental. -#}
{% macro checks_new_submissions_only() -%}
    {{- return(var('incremental_builds', false) and not flags.FULL_REFRESH) -}}
{%- endmacro %}

{#- not_yet_built(alias, built_by, submissions): rows of `alias` (with a submission_id) of
    accepted submissions (`submissions`: the relation stg_submissions) whose key the mart
    `built_by` was not built from. A filter on a short list of submissions, which DuckDB
    applies as it scans (an anti-join of every row against the record took ten times as
    long). -#}
{% macro not_yet_built(alias, built_by, submissions) -%}
    {{ alias }}.submission_id in (
        select submissions.submission_id
        from {{ submissions }} as submissions
        where submissions.submission_status = 'accepted'
            and not exists (
                select 1 from meta.model_inputs as built
                where built.model = '{{ built_by }}'
                    and built.submission_id = submissions.submission_id
                    and built.hub_key_epoch = submissions.hub_key_epoch
            )
    )
{%- endmacro %}

{#- dbt's get_where_subquery (the relation a generic test reads, filtered by its `where`
    config), with one addition: `where: "not_yet_built_by:<mart>"` reads, in an incremental
    build, only the rows of submissions that <mart> was not built from, and otherwise every
    row; `where: checked_by_the_model` reads no rows in a build whose model checks the same
    itself (windows_checked_by_the_model), and otherwise every row. Any other `where` is
    dbt's. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where and where.startswith('not_yet_built_by:') -%}
        {%- if checks_new_submissions_only() -%}
            {#- stg_submissions beside the tested staging view, in the same schema: dbt does
                not see a ref() made here when it parses the test, and the view is upstream
                of every model that opts in. -#}
            {%- if not relation.identifier.startswith('stg_') -%}
                {{ exceptions.raise_compiler_error("where: not_yet_built_by is for the tests of staging models, not of " ~ relation) }}
            {%- endif -%}
            {%- set submissions = relation.incorporate(path={'identifier': 'stg_submissions'}) -%}
            {%- set filtered -%}
            (select * from {{ relation }} as tested where {{ not_yet_built('tested', where.split(':', 1)[1], submissions) }}) dbt_subquery
            {%- endset -%}
            {%- do return(filtered) -%}
        {%- else -%}
            {%- do return(relation) -%}
        {%- endif -%}
    {%- elif where == 'checked_by_the_model' -%}
        {#- A test whose model checks the same in its own transaction in this build
            (windows_checked_by_the_model, above) reads no rows. -#}
        {%- if windows_checked_by_the_model() -%}
            {%- do return('(select * from ' ~ relation ~ ' where false) dbt_subquery') -%}
        {%- else -%}
            {%- do return(relation) -%}
        {%- endif -%}
    {%- elif where -%}
        {%- do return(adapter.dispatch('get_where_subquery', 'dbt')(relation)) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- The periods an incremental build of int_person_months or int_memberships can change: those
    of a key that came (a current submission whose key the table does not hold) or went (a key
    of its organisation rows that is no longer current). Only there do the pre-hooks delete
    rows, so only there can an in-post assignment lack the rows the model derives from it;
    assignments_to_derive reads no other month, of the assignments or of the model's own
    system rows, where it asked the same two questions of every assignment of every month
    the hub holds (on three national months, with nothing to derive: 0.31-0.57 s for each
    of the two models, against 0.12-0.17 s reading one month). Recorded by a pre-hook
    before the deletes (record_changed_periods, into
    meta.<model>_periods: the rows of keys that went are deleted then) and dropped by a
    post-hook (drop_build_list). -#}
{% macro changed_periods_table() -%}
    meta.{{ this.identifier }}_periods
{%- endmacro %}

{#- in_changed_periods(column): a filter on a date `column` to the months in
    meta.<model>_periods; held_in_changed_periods(): is_held_key's `where` for a model's
    organisation rows in those months. -#}
{% macro in_changed_periods(column) -%}
    {{ column }} in (select period_start_date from {{ changed_periods_table() }})
{%- endmacro %}

{% macro held_in_changed_periods() -%}
    {{- return("held.level = 'organisation' and " ~ in_changed_periods('held.period_start_date')) -}}
{%- endmacro %}

{% macro record_changed_periods(extract) -%}
    {%- if is_incremental() -%}
    create table {{ changed_periods_table() }} as
    {#- The keys the table holds, with their months, read once: a few thousand rows, which
        the two questions below are then asked of (each read the table: 0.30-0.37 s for each
        model on six national months). #}
    with held as (
        select distinct held.submission_id, held.hub_key_epoch, held.period_start_date
        from {{ this }} as held
        where held.level = 'organisation'
    )
    select submissions.period_start_date
    from {{ ref('stg_submissions') }} as submissions
    where submissions.submission_status = 'accepted'
        and submissions.extract_type = '{{ extract }}'
        and not {{ is_held_key('submissions', 'held') }}
    union
    select went.period_start_date
    from held as went
    where not {{ is_current_key('went', extract) }}
    {%- endif -%}
{%- endmacro %}

{#- assignments_to_derive(rows, system_where): the in-post assignments `rows` that a model of
    people by level (int_person_months, int_memberships) derives rows from, with
    for_organisation and for_system saying for which level. In a full build, all of them
    for both. In an incremental build, for the organisation level those whose submission's
    key the model does not hold, for the system level those of people with no system row
    for the month (`system_where` narrows which of the model's system rows count, e.g. one
    per person); assignments for neither are left out, and only the months of
    meta.<model>_periods are read (record_changed_periods, above). -#}
{% macro assignments_to_derive(rows, system_where='true') -%}
    select * from (
        select
            {{ rows }}.*,
            {%- if is_incremental() %}
            not {{ is_held_key(rows, this, held_in_changed_periods()) }} as for_organisation,
            not exists (
                select 1 from {{ this }} as held
                where held.level = 'system' and ({{ system_where }})
                    and {{ in_changed_periods('held.period_start_date') }}
                    and held.period_start_date = {{ rows }}.period_start_date
                    and held.person_id = {{ rows }}.person_id
            ) as for_system
            {%- else %}
            true as for_organisation,
            true as for_system
            {%- endif %}
        from {{ rows }}
        {%- if is_incremental() %}
        where {{ in_changed_periods(rows ~ '.period_start_date') }}
        {%- endif %}
    ) as assignments
    {%- if is_incremental() %}
    where for_organisation or for_system
    {%- endif %}
{%- endmacro %}
