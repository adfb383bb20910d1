-- A decision is written in one round trip: BEGIN, its statements and COMMIT go out together, so
-- the node cannot look at a claim's result before COMMIT is on its way. A claim that finds
-- nothing to claim (a job target finished meanwhile, a prepared device bound to another phone)
-- raises this error instead: the statements after it fail and COMMIT ends the transaction as
-- ROLLBACK. The node reads SQLSTATE OD409 as a conflict and decides again on fresh state.
CREATE FUNCTION opendls_claim(claimed BOOLEAN, refusal TEXT) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT claimed THEN
        RAISE EXCEPTION USING ERRCODE = 'OD409', MESSAGE = refusal;
    END IF;
    RETURN TRUE;
END
$$;
